"""SDXL base 1.0's full architecture with random weights, for benchmarks: no 7 GB download.

`build_sdxl_architecture` builds the full-size SDXL base (2.6B-parameter UNet, both CLIP text
encoders, the VAE) from its published configs, written here, with random weights, so
`bench_generation` times the real architecture offline. Nothing in the bot uses it: it lives with
the benchmarks, on top of the tiny model's byte-level tokenizer and pipeline assembly
(`engine.tiny_sdxl`).
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, StableDiffusionXLPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from engine.tiny_sdxl import CLIP_WINDOW, assemble_pipeline, tiny_tokenizer

# SDXL base 1.0 as published (stabilityai/stable-diffusion-xl-base-1.0: unet/, vae/, text_encoder/,
# text_encoder_2/ config.json), restated here so benchmarks build the architecture offline.
SDXL_UNET_CONFIG = dict(
    sample_size=128,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    mid_block_type="UNetMidBlock2DCrossAttn",
    attention_head_dim=(5, 10, 20),
    transformer_layers_per_block=(1, 2, 10),
    cross_attention_dim=2048,
    use_linear_projection=True,
    norm_num_groups=32,
    norm_eps=1e-5,
    act_fn="silu",
    flip_sin_to_cos=True,
    freq_shift=0,
    addition_embed_type="text_time",
    addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,
)
SDXL_VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=2,
    norm_num_groups=32,
    act_fn="silu",
    sample_size=1024,
    scaling_factor=0.13025,
    force_upcast=True,
)
# CLIP ViT-L/14's text tower and OpenCLIP ViT-bigG/14's (with its projection for the pooled embedding).
SDXL_TEXT_ENCODER_CONFIG = dict(
    hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
    projection_dim=768, hidden_act="quick_gelu",
)
SDXL_TEXT_ENCODER_2_CONFIG = dict(
    hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
    projection_dim=1280, hidden_act="gelu",
)
_CLIP_VOCAB = 49408


def build_sdxl_architecture(
    device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0
) -> StableDiffusionXLPipeline:
    """SDXL base 1.0's full architecture with random weights, built directly on `device`.

    Every module has its published shape (UNet 2.57B parameters, text encoders 123M and 695M, VAE
    84M), so timings, FLOPs and memory are those of the real model; the images are noise. The
    tokenizer is the tiny byte-level one (no vocabulary download): it yields ids within CLIP's
    49408-entry embedding tables and the same 77-token window, and text encoding is a rounding
    error of the cost anyway. Each module is created in float32 on the device and cast at once, so
    the peak is one float32 UNet. `device="meta"` builds the shapes without memory, for counting.
    """
    device = torch.device(device)
    tokenizer = tiny_tokenizer()

    def text_config(widths: dict) -> CLIPTextConfig:
        return CLIPTextConfig(
            vocab_size=_CLIP_VOCAB,
            max_position_embeddings=CLIP_WINDOW,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **widths,
        )

    def make(factory):
        with torch.device(device):
            module = factory()
        return module.to(dtype).eval()

    with torch.random.fork_rng(devices=[]):  # the CPU generator is restored; CUDA's is only reseeded
        if device.type != "meta":
            torch.manual_seed(seed)
        unet = make(lambda: UNet2DConditionModel(**SDXL_UNET_CONFIG))
        vae = make(lambda: AutoencoderKL(**SDXL_VAE_CONFIG))
        text_encoder = make(lambda: CLIPTextModel(text_config(SDXL_TEXT_ENCODER_CONFIG)))
        text_encoder_2 = make(lambda: CLIPTextModelWithProjection(text_config(SDXL_TEXT_ENCODER_2_CONFIG)))
    pipe = assemble_pipeline(unet, vae, text_encoder, text_encoder_2, tokenizer)
    pipe.set_progress_bar_config(disable=True)
    return pipe
