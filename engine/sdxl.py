"""Loading the SDXL pipelines behind `ViperGenerator`: from the hub, a local folder, or tiny in code.

`load_generator` is the one entry point the worker uses. A hub id or a local diffusers folder goes
through diffusers' own `from_pretrained`, the path real deployments take; the literal "tiny" builds
a random-weight SDXL of about 600k parameters from configs in code, for CI and for trying the bot on a
laptop. The tiny pipeline is an ordinary `StableDiffusionXLPipeline`, so `save_pretrained` on it and
`load_generator` on the folder exercise the real loading path without any network.

`build_sdxl_architecture` builds the full-size SDXL base (2.6B-parameter UNet, both CLIP text
encoders, the VAE) from its published configs, written here, with random weights: benchmarks time
the real architecture without downloading 7 GB of weights.
"""

from __future__ import annotations

import json
import logging
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
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from engine.generation import GenerationDefaults, ViperGenerator
from viper.contracts.errors import InvalidArgument, ModelUnavailable

log = logging.getLogger("viper.sdxl")

TINY = "tiny"
# `refiner="auto"`: the method's refiner for the default hub base model, none for anything else.
AUTO = "auto"
SDXL_BASE = "stabilityai/stable-diffusion-xl-base-1.0"
SDXL_REFINER = "stabilityai/stable-diffusion-xl-refiner-1.0"
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}

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
_CLIP_WINDOW = 77


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


def _tiny_tokenizer() -> CLIPTokenizer:
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
        return CLIPTokenizer.from_pretrained(folder, model_max_length=_CLIP_WINDOW)


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
        max_position_embeddings=_CLIP_WINDOW,
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
    tokenizer = _tiny_tokenizer()
    text_config = _tiny_text_config(tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text_encoder = CLIPTextModel(text_config)
        text_encoder_2 = CLIPTextModelWithProjection(text_config)
        unet = _tiny_unet(cross_attention_dim=2 * _TINY_TEXT_WIDTH, time_ids=6)
        vae = _tiny_vae()
    return _assemble(unet, vae, text_encoder, text_encoder_2, tokenizer)


def _assemble(unet, vae, text_encoder, text_encoder_2, tokenizer) -> StableDiffusionXLPipeline:
    """An SDXL pipeline from random-weight parts, with SDXL's scheduler and no watermarker."""
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=_tiny_tokenizer(),
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
    tokenizer = _tiny_tokenizer()

    def text_config(widths: dict) -> CLIPTextConfig:
        return CLIPTextConfig(
            vocab_size=_CLIP_VOCAB,
            max_position_embeddings=_CLIP_WINDOW,
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
    pipe = _assemble(unet, vae, text_encoder, text_encoder_2, tokenizer)
    pipe.set_progress_bar_config(disable=True)
    return pipe
