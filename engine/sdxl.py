"""Loading the SDXL pipelines behind `ViperGenerator`: from the hub, a local folder, or tiny in code.

`load_generator` is the one entry point the worker uses. A hub id or a local diffusers folder goes
through diffusers' own `from_pretrained`, the path real deployments take; the literal "tiny" builds
a random-weight SDXL of about 600k parameters from configs in code (`engine.tiny_sdxl`), for CI and
for trying the bot on a laptop. `optimise_unet` holds the speed settings both paths share.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from engine.generation import GenerationDefaults, ViperGenerator
from engine.tiny_sdxl import build_tiny_pipeline, build_tiny_refiner
from viper.contracts.errors import InvalidArgument, ModelUnavailable

log = logging.getLogger("viper.sdxl")

TINY = "tiny"
# `refiner="auto"`: the method's refiner for the default hub base model, none for anything else.
AUTO = "auto"
SDXL_BASE = "stabilityai/stable-diffusion-xl-base-1.0"
SDXL_REFINER = "stabilityai/stable-diffusion-xl-refiner-1.0"
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}

__all__ = [
    "AUTO",
    "DTYPES",
    "SDXL_BASE",
    "SDXL_REFINER",
    "TINY",
    "build_tiny_pipeline",
    "build_tiny_refiner",
    "load_generator",
    "optimise_unet",
    "resolve_refiner",
]


def load_generator(
    model: str,
    *,
    device: str = "auto",
    dtype: str = "fp16",
    refiner: str | None = None,
    cache_dir: str | None = None,
    defaults: GenerationDefaults | None = None,
    compile: bool = False,
    channels_last: bool = False,
) -> ViperGenerator:
    """Load an SDXL pipeline (and optional refiner) and wrap it in a `ViperGenerator`.

    `model` is a hub id ("stabilityai/stable-diffusion-xl-base-1.0"), a local diffusers folder, or
    "tiny". `refiner` is the same kind of thing (the SDXL refiner, or "tiny" with a tiny model), None
    for no refiner, or "auto": the SDXL refiner 1.0 when `model` is the SDXL base 1.0 hub id, as the
    method runs it, and none for any other model. An explicit refiner that cannot be loaded is an
    error; an "auto" one only costs a warning, since the operator did not ask for it by name. The
    refiner shares the base's second text encoder and VAE, as the method does. `device` "auto"
    picks CUDA when present. `dtype` is "fp16", "bf16" or "fp32"; on a CPU it is always fp32, since
    half precision there is slow or unsupported. `compile` and `channels_last` apply
    `optimise_unet` to every UNet. Weights that cannot be loaded raise `ModelUnavailable` saying what
    was tried and what to change.
    """
    torch_device = _resolve_device(device)
    torch_dtype = _resolve_dtype(dtype, torch_device)
    refiner_optional = isinstance(refiner, str) and refiner.strip().lower() == AUTO
    refiner = resolve_refiner(model, refiner)
    if model == TINY:
        if refiner not in (None, TINY):
            raise ModelUnavailable(
                f"the tiny model only works with the tiny refiner, not {refiner!r}: "
                f'set [engine] refiner to "{TINY}" or leave it empty'
            )
        pipe = build_tiny_pipeline()
        refiner_pipe = build_tiny_refiner(pipe) if refiner == TINY else None
    else:
        if refiner == TINY:
            raise ModelUnavailable(
                "the tiny refiner only works with the tiny model: "
                "set [engine] refiner to an SDXL refiner or leave it empty"
            )
        pipe = _from_pretrained(StableDiffusionXLPipeline, model, "model", torch_dtype, cache_dir)
        refiner_pipe = None
        if refiner is not None:
            try:
                refiner_pipe = _from_pretrained(
                    StableDiffusionXLImg2ImgPipeline,
                    refiner,
                    "refiner",
                    torch_dtype,
                    cache_dir,
                    text_encoder_2=pipe.text_encoder_2,
                    vae=pipe.vae,
                )
            except ModelUnavailable as exc:
                if not refiner_optional:
                    raise
                log.warning("running without the refiner: %s", exc.message)
    try:
        for p in (pipe, refiner_pipe):
            if p is not None:
                # Loaded weights already have their dtype; the tiny model is built in float32.
                if p.dtype == torch_dtype:
                    p.to(torch_device)
                else:
                    p.to(torch_device, torch_dtype)
                p.set_progress_bar_config(disable=True)
                optimise_unet(p.unet, compile=compile, channels_last=channels_last)
    except RuntimeError as exc:  # includes torch.OutOfMemoryError
        raise ModelUnavailable(
            f"loaded {model!r} but could not move it to {torch_device} as {torch_dtype} ({exc}); "
            "check [engine] device and dtype, or free GPU memory"
        ) from exc
    return ViperGenerator(pipe, model_name=model, is_tiny=model == TINY, refiner=refiner_pipe, defaults=defaults)


def resolve_refiner(model: str, refiner: str | None) -> str | None:
    """The refiner `load_generator` will load: "auto" and "" resolve, anything else is taken as named.

    "auto" follows the method (base then refiner) only where we know the pair: the SDXL base 1.0
    hub id gets the SDXL refiner 1.0. A local folder, another hub model or "tiny" could be anything,
    so "auto" leaves them unrefined; naming a refiner turns it on for them.
    """
    if refiner is None or not refiner.strip():
        return None
    if refiner.strip().lower() == AUTO:
        return SDXL_REFINER if model == SDXL_BASE else None
    return refiner


def optimise_unet(unet, *, compile: bool = False, channels_last: bool = False) -> None:
    """Make `unet` faster without changing the method, in place (compiled kernels may round differently).

    Attention always goes through PyTorch's fused scaled-dot-product attention (flash or
    memory-efficient kernels on a GPU): diffusers picks it by default on torch 2, and any layer set
    to the older matmul-softmax processor is switched back, since that one materialises the
    4096x4096 attention matrix per head at 1024 px. `channels_last` stores convolution weights
    NHWC, which some GPUs' convolution kernels prefer (measure: DESIGN.md saw it slow eager SDXL
    down). `compile` wraps the forward in `torch.compile` (the module stays the same object, so its
    config and hooks remain); the batch dimension becomes dynamic after the first recompile, so
    batches of other sizes do not each compile anew.
    """
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    processors = unet.attn_processors
    if any(type(p) is AttnProcessor for p in processors.values()):
        unet.set_attn_processor(
            {name: AttnProcessor2_0() if type(p) is AttnProcessor else p for name, p in processors.items()}
        )
    if channels_last:
        unet.to(memory_format=torch.channels_last)
    if compile:
        unet.compile()


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidArgument(
            f'device must be "auto", "cpu", "cuda", "cuda:N" or "mps", got {device!r}', argument="device"
        ) from exc
    available = {"cuda": torch.cuda.is_available, "mps": torch.backends.mps.is_available}
    if resolved.type in available and not available[resolved.type]():
        raise ModelUnavailable(
            f'device {device!r} asked for, but this machine has none: set [engine] device to "auto" or "cpu"'
        )
    return resolved


def _resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype not in DTYPES:
        raise InvalidArgument(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}", argument="dtype")
    return torch.float32 if device.type == "cpu" else DTYPES[dtype]


def _from_pretrained(cls, source: str, what: str, torch_dtype: torch.dtype, cache_dir: str | None, **shared):
    """`cls.from_pretrained` on a local folder or a hub id, turning every failure into ModelUnavailable.

    Any exception is translated: a missing file, no network, a corrupt safetensors file or a folder
    of the wrong pipeline all mean the same thing to the operator, whose fix is in the config. The
    original exception stays chained for the log.
    """
    fix = (
        f"Set [engine] {what} to a local diffusers folder or to a Hugging Face hub id that is cached or "
        "reachable (with HF_HUB_OFFLINE=1 only cached files count), "
        + (f'or set it to "{TINY}" for the random-weight test model.' if what == "model" else "or leave it empty.")
    )
    path = Path(source).expanduser()
    if path.is_dir():
        target, where, kwargs = str(path), f"local folder {str(path)!r}", {}
    else:
        try:
            validate_repo_id(source)
        except HFValidationError:
            raise ModelUnavailable(
                f"SDXL {what} {source!r} is neither an existing folder (looked for {path.resolve()}) "
                f"nor a valid hub id. {fix}"
            ) from None
        target, where = source, f"Hugging Face hub id {source!r}"
        kwargs = {"cache_dir": cache_dir}
        if torch_dtype == torch.float16:
            kwargs["variant"] = "fp16"
    try:
        return cls.from_pretrained(
            target,
            dtype=torch_dtype,
            use_safetensors=True,
            add_watermarker=False,
            **kwargs,
            **shared,
        )
    except Exception as exc:
        raise ModelUnavailable(
            f"could not load the SDXL {what} from {where} ({type(exc).__name__}: {exc}). {fix}"
        ) from exc
