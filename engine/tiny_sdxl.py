"""The tiny SDXL: a random-weight SDXL of about 600k parameters, built from configs in code.

It has SDXL's structure (two CLIP text encoders, the second with a projection for the pooled
embedding; text_time micro-conditioning; Euler with SDXL's noise schedule) at 64x64 pixels, so every
code path of the real model runs in seconds on a CPU, with nothing downloaded: CI, tests and trying
the bot on a laptop use it (`load_generator("tiny")`). Its pipelines are ordinary diffusers
pipelines, so `save_pretrained` on them and `load_generator` on the folder exercise the real loading
path. The byte-level tokenizer and `assemble_pipeline` also serve anything else that builds an SDXL
from random-weight parts offline (bench/sdxl_architecture.py).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

# SDXL's scheduler settings (stabilityai/stable-diffusion-xl-base-1.0, scheduler_config.json), so the
# tiny model walks the same noise schedule as the real one.
_SDXL_SCHEDULER = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    prediction_type="epsilon",
    interpolation_type="linear",
    timestep_spacing="leading",
    steps_offset=1,
    use_karras_sigmas=False,
)
# Sizes of the tiny model. Both text encoders are 32 wide, so the UNet cross-attends to 64-wide
# states as SDXL's concatenated encoders do; SDXL's six time ids each get an 8-wide embedding.
_TINY_TEXT_WIDTH = 32
_TINY_TIME_EMBED = 8
CLIP_WINDOW = 77  # CLIP's token window


def tiny_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer over bare bytes: every UTF-8 byte is a token, no merges.

    `CLIPTokenizer(vocab_file=...)` ignores its files, so the vocabulary is written to a folder and
    loaded with `from_pretrained`. It holds the 256 byte symbols of CLIP's byte-level alphabet, each
    again with the `</w>` end-of-word mark, and the start and end tokens: 514 entries.
    """
    alphabet = _byte_alphabet()
    words = alphabet + [symbol + "</w>" for symbol in alphabet] + ["<|startoftext|>", "<|endoftext|>"]
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "vocab.json").write_text(json.dumps({w: i for i, w in enumerate(words)}), encoding="utf-8")
        Path(folder, "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
        return CLIPTokenizer.from_pretrained(folder, model_max_length=CLIP_WINDOW)


def _byte_alphabet() -> list[str]:
    """The printable stand-in for each byte value that byte-level BPE (GPT-2, CLIP) uses.

    Printable Latin-1 bytes stand for themselves; the others (controls, space, a few more) are
    mapped, in order, to the code points from 256 on.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols, next_free = [], 256
    for byte in range(256):
        if byte in printable:
            symbols.append(chr(byte))
        else:
            symbols.append(chr(next_free))
            next_free += 1
    return symbols


def _tiny_text_config(tokenizer: CLIPTokenizer) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=_TINY_TEXT_WIDTH,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=CLIP_WINDOW,
        projection_dim=_TINY_TEXT_WIDTH,
        hidden_act="gelu",
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _tiny_unet(cross_attention_dim: int, time_ids: int) -> UNet2DConditionModel:
    """An SDXL-shaped UNet (text_time added conditioning, cross-attention in the lower block) at 32x32 latents."""
    return UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(16, 32),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        transformer_layers_per_block=(1, 2),
        use_linear_projection=True,
        norm_num_groups=8,
        cross_attention_dim=cross_attention_dim,
        addition_embed_type="text_time",
        addition_time_embed_dim=_TINY_TIME_EMBED,
        projection_class_embeddings_input_dim=time_ids * _TINY_TIME_EMBED + _TINY_TEXT_WIDTH,
    )


def _tiny_vae() -> AutoencoderKL:
    """A two-level VAE (64 px images <-> 32x32x4 latents) with SDXL's scaling factor and fp16 upcast flag."""
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(16, 32),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
        scaling_factor=0.13025,
        force_upcast=True,
    )


def build_tiny_pipeline(seed: int = 0) -> StableDiffusionXLPipeline:
    """A random-weight SDXL base pipeline, 64x64 native, deterministic given `seed`.

    It has SDXL's structure (two CLIP text encoders, the second with a projection for the pooled
    embedding; text_time micro-conditioning; Euler with SDXL's schedule), so every code path of the
    real model runs, in seconds on a CPU. The global torch RNG is left as it was.
    """
    tokenizer = tiny_tokenizer()
    text_config = _tiny_text_config(tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text_encoder = CLIPTextModel(text_config)
        text_encoder_2 = CLIPTextModelWithProjection(text_config)
        unet = _tiny_unet(cross_attention_dim=2 * _TINY_TEXT_WIDTH, time_ids=6)
        vae = _tiny_vae()
    return assemble_pipeline(unet, vae, text_encoder, text_encoder_2, tokenizer)


def assemble_pipeline(unet, vae, text_encoder, text_encoder_2, tokenizer) -> StableDiffusionXLPipeline:
    """An SDXL pipeline from random-weight parts, with SDXL's scheduler and no watermarker."""
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tiny_tokenizer(),
        unet=unet,
        scheduler=EulerDiscreteScheduler(**_SDXL_SCHEDULER),
        add_watermarker=False,
    )


def build_tiny_refiner(base: StableDiffusionXLPipeline, seed: int = 1) -> StableDiffusionXLImg2ImgPipeline:
    """A random-weight SDXL refiner for a tiny base, sharing its second text encoder and VAE.

    Like the real refiner it reads only the second text encoder and conditions on an aesthetic
    score (five time ids instead of six), and encodes an empty negative prompt rather than zeroing it.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = _tiny_unet(cross_attention_dim=_TINY_TEXT_WIDTH, time_ids=5)
    return StableDiffusionXLImg2ImgPipeline(
        vae=base.vae,
        text_encoder=None,
        text_encoder_2=base.text_encoder_2,
        tokenizer=None,
        tokenizer_2=base.tokenizer_2,
        unet=unet,
        scheduler=EulerDiscreteScheduler(**_SDXL_SCHEDULER),
        requires_aesthetics_score=True,
        force_zeros_for_empty_prompt=False,
        add_watermarker=False,
    )
