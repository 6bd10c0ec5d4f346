"""What the generation benchmark measures inside the engine, attached from outside for one run.

The engine carries no benchmark hooks: these context managers wrap its module-level step functions
(`engine.denoising`) while a measurement runs and put the originals back afterwards, so production
code pays nothing for them.

- `counting_unet_rows`: the UNet rows actually computed (one row = one latent through the UNet
  once), for TFLOP/s. Only calls that succeed count, as an out-of-memory retry recomputes its rows.
- `recording_guided_noise`: every guided noise prediction by step, for fast mode's error.
- `syncs_forbidden_in_steps`: CUDA's sync debug mode set to "error" inside every denoising step
  (UNet calls, guidance, scheduler), progress callbacks left outside.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def _wrapped(owner, name: str, make_wrapper) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, make_wrapper(original))
    try:
        yield
    finally:
        setattr(owner, name, original)


class RowCount:
    rows: int = 0


@contextlib.contextmanager
def counting_unet_rows() -> Iterator[RowCount]:
    """Count the UNet rows of every successful prediction while the block runs."""
    from engine import denoising

    count = RowCount()

    def make_wrapper(predict):
        def counted(unet, jobs, *, fused):
            predictions = predict(unet, jobs, fused=fused)
            count.rows += sum(job.rows for job in jobs)  # jobs advance only after this returns
            return predictions

        return counted

    with _wrapped(denoising, "predict", make_wrapper):
        yield count


@contextlib.contextmanager
def recording_guided_noise() -> Iterator[dict[int, torch.Tensor]]:
    """Every guided noise prediction made while the block runs, in float32, by the member's step
    number (base and refiner counted together). Meant for one member at a time."""
    from engine.denoising import Denoising

    noise: dict[int, torch.Tensor] = {}

    def make_wrapper(guide):
        def recorded(job, raw):
            guided = guide(job, raw)
            noise[job.progress_offset + job.index] = guided.float()
            return guided

        return recorded

    with _wrapped(Denoising, "guide", make_wrapper):
        yield noise


@contextlib.contextmanager
def syncs_forbidden_in_steps() -> Iterator[None]:
    """Make any host-device sync inside a denoising step raise a RuntimeError (CUDA only)."""
    from engine import denoising

    def make_wrapper(denoise_step):
        def checked(*args, **kwargs):
            torch.cuda.set_sync_debug_mode("error")
            try:
                return denoise_step(*args, **kwargs)
            finally:
                torch.cuda.set_sync_debug_mode("default")

        return checked

    with _wrapped(denoising, "denoise_step", make_wrapper):
        yield
