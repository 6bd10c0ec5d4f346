"""Latents to pixels and back, with the VAE of an SDXL pipeline, as the stock pipelines do it.

`decode_latents` is `StableDiffusionXLPipeline`'s last step (our `ViperGenerator.decode`);
`encode_image` is the first step of `StableDiffusionXLImg2ImgPipeline` (🎲 Vary): the same latent
scaling in reverse, the posterior sampled with the member's own generator, and the same float32
upcast of a VAE whose config says `force_upcast` (SDXL's overflows in fp16).

Both change the VAE's dtype for the length of the call and put it back, so neither may overlap
another call on the same VAE: `ViperGenerator` runs them under its lock.
"""

from __future__ import annotations

import contextlib

import PIL.Image
import torch


def decode_latents(pipe, latents: torch.Tensor) -> PIL.Image.Image:
    """Decode one image's latents to a PIL image, as the stock SDXL pipeline does: an fp16 VAE
    that asks for it (`force_upcast`) runs in float32 for the decode."""
    vae = pipe.vae
    upcast = vae.dtype == torch.float16 and vae.config.force_upcast
    with _float32(vae, upcast):
        if upcast:
            latents = latents.to(torch.float32)
        mean, std = _latent_stats(vae, latents)
        if mean is not None:
            latents = latents * std / vae.config.scaling_factor + mean
        else:
            latents = latents / vae.config.scaling_factor
        image = vae.decode(latents, return_dict=False)[0]
    return pipe.image_processor.postprocess(image, output_type="pil")[0]


def encode_image(
    pipe, image: PIL.Image.Image, *, generator: torch.Generator, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """The scaled latents of `image` (RGB, sides multiples of the VAE's factor), as
    `StableDiffusionXLImg2ImgPipeline` prepares them before adding noise.

    The pixels are normalised by the pipeline's own image processor; a VAE with `force_upcast` in
    its config encodes in float32 (whatever its dtype, as the stock img2img does); the posterior is
    sampled with `generator`, which the caller then uses for the noise, in that order, as stock
    does; the result is scaled (`latents_mean`/`latents_std` when the VAE has them) in `dtype`.
    """
    vae = pipe.vae
    pixels = pipe.image_processor.preprocess(image).to(device=device, dtype=dtype)
    upcast = bool(vae.config.force_upcast)
    with _float32(vae, upcast):
        if upcast:
            pixels = pixels.float()
        encoded = vae.encode(pixels)
        if hasattr(encoded, "latent_dist"):
            latents = encoded.latent_dist.sample(generator)
        else:
            latents = encoded.latents
    latents = latents.to(dtype)
    mean, std = _latent_stats(vae, latents)
    if mean is not None:
        return (latents - mean) * vae.config.scaling_factor / std
    return vae.config.scaling_factor * latents


@contextlib.contextmanager
def _float32(vae, upcast: bool):
    """The VAE in float32 for the block when `upcast`, back in its own dtype after, even on error. A VAE
    already in float32 is left alone (a cast to its own dtype changes nothing but logs a warning)."""
    original = vae.dtype
    upcast = upcast and original != torch.float32
    if upcast:
        vae.to(dtype=torch.float32)
    try:
        yield
    finally:
        if upcast:
            vae.to(dtype=original)


def _latent_stats(vae, like: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    mean = getattr(vae.config, "latents_mean", None)
    std = getattr(vae.config, "latents_std", None)
    if mean is None or std is None:
        return None, None
    shape = (1, len(mean), 1, 1)
    return (
        torch.tensor(mean).view(shape).to(like.device, like.dtype),
        torch.tensor(std).view(shape).to(like.device, like.dtype),
    )
