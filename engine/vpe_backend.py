"""The `vpe` extraction backend: the ViPer method's own extractor, IDEFICS2-8b with the VPE LoRA adapter.

It runs on a GPU, in fp16 or 4-bit, and sees the commented images, so it can name features no tag
mentions. Its prompt is `engine.vpe_prompt`'s and its answer goes through `engine.feature_parser`.
torch, transformers and peft are imported only when the model loads, so importing this module is
cheap; every way loading can fail ends in `ModelUnavailable` saying what to do about it.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from typing import Any

from engine.feature_parser import parse_features
from engine.vpe_prompt import build_vpe_messages
from viper.contracts.errors import InvalidArgument, JobFailed, ModelUnavailable
from viper.contracts.jobs import Comment, ExtractResult

VPE_MODEL_ID = "HuggingFaceM4/idefics2-8b"
VPE_ADAPTER_ID = "EPFL-VILAB/VPE-ViPer"
VPE_IMAGE_SIZE = {"longest_edge": 448, "shortest_edge": 378}
VPE_MAX_NEW_TOKENS = 2000
VPE_REPETITION_PENALTY = 0.99


def _missing_packages(quantize: str | None) -> list[str]:
    # transformers 5 builds the IDEFICS2 image processor only when torchvision is importable.
    needed = ["torch", "torchvision", "transformers", "peft", "accelerate"] + (["bitsandbytes"] if quantize else [])
    return [name for name in needed if importlib.util.find_spec(name) is None]


def _offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


class VpeExtractor:
    """The method's extractor: IDEFICS2-8b with the VPE LoRA adapter, greedy decoding, on a GPU.

    Loading is lazy (first `extract`) or explicit (`load()`, which a worker calls at start-up).
    Every way loading can fail ends in `ModelUnavailable` with what to do about it.
    """

    name = "vpe"

    def __init__(
        self,
        *,
        model_id: str = VPE_MODEL_ID,
        adapter_id: str | None = VPE_ADAPTER_ID,
        device: str | None = None,
        quantize: str | None = None,
        max_new_tokens: int = VPE_MAX_NEW_TOKENS,
        cache_dir: str | None = None,
        local_files_only: bool | None = None,
        merge_adapter: bool = True,
    ) -> None:
        if quantize not in (None, "4bit"):
            raise InvalidArgument(f"quantize must be None or '4bit', got {quantize!r}", argument="quantize")
        if not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens <= 8192:
            raise InvalidArgument("max_new_tokens must be an integer from 1 to 8192", argument="max_new_tokens")
        self.model_id = model_id
        self.adapter_id = adapter_id
        self.device = device
        self.quantize = quantize
        self.max_new_tokens = max_new_tokens
        self.cache_dir = cache_dir
        self.local_files_only = local_files_only
        self.merge_adapter = merge_adapter
        self.version = f"{model_id}+{adapter_id or 'no-adapter'}" + (f"+{quantize}" if quantize else "")
        self._processor = None
        self._model = None
        # The worker runs jobs in threads: one load (16 GB) and one generation at a time per model.
        self._lock = threading.RLock()

    # --- loading ---------------------------------------------------------------------------------

    def load(self) -> None:
        with self._lock:
            if self._model is None:
                self._load()

    def _load(self) -> None:
        missing = _missing_packages(self.quantize)
        if missing:
            raise ModelUnavailable(
                f"the vpe extractor needs {', '.join(missing)}: install them with pip install 'viper-bot[vpe]' "
                "(plus the CUDA builds of torch and torchvision on the GPU host), or use the lexicon backend"
            )
        import torch

        device = self.device or ("cuda" if torch.cuda.is_available() else None)
        if device is None:
            raise ModelUnavailable(
                "the vpe extractor needs a CUDA GPU (IDEFICS2-8b in fp16 needs about 17 GB of GPU memory, "
                "about 6 GB with quantize='4bit'); run the worker on a GPU host or use the lexicon backend"
            )
        local_only = _offline() if self.local_files_only is None else self.local_files_only
        hub = {"cache_dir": self.cache_dir, "local_files_only": local_only}
        processor = self._load_processor(hub)
        adapter = self._resolve_adapter(hub)
        self._model = self._load_model(torch, device, hub, adapter)
        self._processor = processor

    def _unavailable(self, what: str, repo: str, exc: BaseException, local_only: bool) -> ModelUnavailable:
        where = "the local cache" if local_only else "the Hugging Face hub"
        fix = (
            f"download it first where there is network access (hf download {repo}), or unset HF_HUB_OFFLINE"
            if local_only
            else "check network access to huggingface.co, the repository id, and HF_TOKEN if it is gated"
        )
        detail = " ".join(str(exc).split()).rstrip(".")
        return ModelUnavailable(f"cannot load {what} from {where} ({type(exc).__name__}: {detail}). To fix: {fix}")

    def _load_processor(self, hub: dict):
        from transformers import AutoProcessor

        try:
            return AutoProcessor.from_pretrained(
                self.model_id, do_image_splitting=False, size=dict(VPE_IMAGE_SIZE), **hub
            )
        except (OSError, ValueError, ImportError) as exc:
            raise self._unavailable(
                f"the processor of {self.model_id}", self.model_id, exc, hub["local_files_only"]
            ) from exc

    def _resolve_adapter(self, hub: dict) -> str | None:
        """The adapter's local folder, fetched before the 16 GB base model so a missing adapter fails fast."""
        if not self.adapter_id:
            return None
        if os.path.isdir(self.adapter_id):
            return self.adapter_id
        from huggingface_hub import snapshot_download

        try:
            return snapshot_download(
                self.adapter_id, cache_dir=hub["cache_dir"], local_files_only=hub["local_files_only"]
            )
        except Exception as exc:  # the hub raises many error types; all mean "not available here"
            raise self._unavailable(
                f"the VPE adapter {self.adapter_id}", self.adapter_id, exc, hub["local_files_only"]
            ) from exc

    def _load_model(self, torch, device: str, hub: dict, adapter: str | None):
        from transformers import AutoModelForImageTextToText

        kwargs: dict[str, Any] = {"dtype": torch.float16 if device.startswith("cuda") else torch.float32, **hub}
        if self.quantize == "4bit":
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float16
            )
            kwargs["device_map"] = {"": device}
        try:
            model = AutoModelForImageTextToText.from_pretrained(self.model_id, **kwargs)
        except (OSError, ValueError, ImportError) as exc:
            raise self._unavailable(f"the model {self.model_id}", self.model_id, exc, hub["local_files_only"]) from exc
        except RuntimeError as exc:  # CUDA out of memory and friends
            raise ModelUnavailable(f"cannot place {self.model_id} on {device}: {exc}. Try quantize='4bit'") from exc
        if self.quantize is None:
            model = model.to(device)
        if adapter is not None:
            from peft import PeftModel

            try:
                model = PeftModel.from_pretrained(model, adapter)
            except (OSError, ValueError, KeyError) as exc:
                raise ModelUnavailable(f"cannot apply the VPE adapter from {adapter}: {exc}") from exc
            if self.merge_adapter and self.quantize is None:
                model = model.merge_and_unload()  # same maths, one matmul per layer instead of three
        model.eval()
        return model

    # --- extraction ------------------------------------------------------------------------------

    def extract(self, comments: Sequence[Comment] | None) -> ExtractResult:
        messages, images = build_vpe_messages(comments)
        if len(messages[0]["content"]) == 1:  # nothing but the instruction: no comment to read
            return ExtractResult([], [], backend=self.name, backend_version=self.version)
        self.load()
        text = self.generate(messages, images)
        liked, disliked = parse_features(text)
        return ExtractResult(liked, disliked, backend=self.name, backend_version=self.version)

    def generate(self, messages: list[dict], images: list) -> str:
        """Run the model on prepared messages and return only the newly generated text."""
        import torch

        self.load()
        processor, model = self._processor, self._model
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
        inputs = processor(text=prompt, images=images or None, return_tensors="pt")
        device = next(model.parameters()).device
        inputs = {k: v.to(device) for k, v in inputs.items()}
        dtype = getattr(model, "dtype", None)
        if "pixel_values" in inputs and dtype is not None and dtype.is_floating_point:
            inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
        try:
            with self._lock, torch.inference_mode():
                output = model.generate(
                    **inputs,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    repetition_penalty=VPE_REPETITION_PENALTY,
                )
        except RuntimeError as exc:
            raise JobFailed(f"the vpe extractor failed while generating: {type(exc).__name__}: {exc}") from exc
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return processor.batch_decode(new_tokens, skip_special_tokens=True)[0]
