"""Preference extraction: from a member's comments on gallery images to liked/disliked feature lists.

Three backends share one small interface (`Extractor`) and one result type (`ExtractResult`, which
records the backend and its version, so a profile says what made it):

- ``lexicon`` (the default, `engine.lexicon`) reads the comments with a vocabulary of about 450
  visual attributes and plain polarity rules. It runs on any CPU in about a millisecond per member,
  needs nothing downloaded and is deterministic, so onboarding works on the smallest install and in CI.
- ``vpe`` (here) runs the ViPer method's own extractor: IDEFICS2-8b with the VPE LoRA adapter on a
  GPU, in fp16 or 4-bit. It sees the images, so it can name features no tag mentions.
- ``openai`` (`engine.openai_backend`) asks any OpenAI-compatible chat-completions endpoint with
  vision (vLLM, Ollama, LM Studio, hosted APIs) the same question, images sent as data URLs.

The two model backends share the prompt building (`build_vpe_messages`, `sanitize_comment`: a
member's text stays quoted data) and the answer parser (`parse_features`). Heavy imports (torch,
transformers, peft, httpx) happen only when a model backend is used, so importing this module, and
the whole lexicon path, never touches torch.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from engine.lexicon import Attribute, Lexicon, LexiconExtractor, Mention, default_lexicon
from viper.contracts.errors import InvalidArgument, JobFailed, ModelUnavailable
from viper.contracts.jobs import Comment, ExtractResult

__all__ = [
    "Attribute",
    "BACKENDS",
    "Extractor",
    "Lexicon",
    "LexiconExtractor",
    "Mention",
    "VPE_ADAPTER_ID",
    "VPE_INSTRUCTION",
    "VPE_MODEL_ID",
    "VpeExtractor",
    "build_vpe_messages",
    "default_lexicon",
    "extractor_from_settings",
    "extractor_options",
    "make_extractor",
    "parse_features",
    "sanitize_comment",
]

log = logging.getLogger(__name__)


@runtime_checkable
class Extractor(Protocol):
    """What the worker needs from an extraction backend.

    `load()` does any slow setup up front, so a worker can call it at start-up and the first member
    does not wait for a model to load; `extract()` calls it on demand otherwise. `extract()` never
    loses a member's other comments because one of them is empty, huge, or answers a broken image.
    """

    name: str
    version: str

    def load(self) -> None: ...

    def extract(self, comments: list[Comment]) -> ExtractResult: ...


BACKENDS = ("lexicon", "vpe", "openai")


def _openai_factory(**options: Any) -> Extractor:
    from engine.openai_backend import OpenAIExtractor  # imports httpx; only when chosen

    return OpenAIExtractor(**options)


def make_extractor(backend: str = "lexicon", **options: Any) -> Extractor:
    """Build the named backend. Options go to its constructor; unknown ones are an error, not ignored."""
    factories = {"lexicon": LexiconExtractor, "vpe": VpeExtractor, "openai": _openai_factory}
    factory = factories.get(backend.strip().lower() if isinstance(backend, str) else backend)
    if factory is None:
        raise InvalidArgument(
            f"unknown extraction backend {backend!r}; known backends: {', '.join(BACKENDS)}", argument="backend"
        )
    try:
        return factory(**options)
    except TypeError as exc:
        raise InvalidArgument(f"bad option for the {backend} extraction backend: {exc}", argument="options") from exc


def extractor_options(section: Any, backend: str | None = None) -> dict[str, Any]:
    """The constructor options of `backend` (default: the configured one) from config's [extraction].

    `section` is `viper.config.ExtractionSection` (or anything with the same attributes); only the
    keys that belong to the chosen backend are passed, so one config serves every backend.
    """
    backend = (backend or getattr(section, "backend", "lexicon")).strip().lower()
    if backend == "vpe":
        return {"quantize": getattr(section, "vpe_quantize", "") or None}
    if backend == "openai":
        return {
            "base_url": getattr(section, "openai_base_url", ""),
            "model": getattr(section, "openai_model", ""),
            "api_key": _secret(getattr(section, "openai_api_key", None)) or None,
            "api_key_env": getattr(section, "openai_api_key_env", "OPENAI_API_KEY"),
            "image_edge": getattr(section, "image_edge", 448),
            "timeout_s": getattr(section, "timeout_s", 120.0),
            "retries": getattr(section, "retries", 3),
        }
    if backend == "lexicon":
        return {"judge": bool(getattr(section, "lexicon_judge", True))}
    return {}


def _secret(value: Any) -> str:
    """A pydantic SecretStr (or plain str) as text; empty when unset."""
    getter = getattr(value, "get_secret_value", None)
    return (getter() if getter else value or "").strip()


def extractor_from_settings(section: Any, backend: str | None = None) -> Extractor:
    """The extractor an operator configured: `make_extractor` with the options from [extraction]."""
    name = backend or getattr(section, "backend", "lexicon")
    return make_extractor(name, **extractor_options(section, name))


# ==================================================================================================
# VPE backend (IDEFICS2-8b + the VPE LoRA adapter)
# ==================================================================================================

VPE_MODEL_ID = "HuggingFaceM4/idefics2-8b"
VPE_ADAPTER_ID = "EPFL-VILAB/VPE-ViPer"
VPE_IMAGE_SIZE = {"longest_edge": 448, "shortest_edge": 378}
VPE_MAX_NEW_TOKENS = 2000
VPE_REPETITION_PENALTY = 0.99
MAX_COMMENT_CHARS = 600

# Our wording of the instruction the adapter was trained with. The adapter learned one fixed
# instruction, so this keeps its meaning point by point: what it is given, which features to
# look for, that subject matter is out of scope, that vague praise must be made concrete from the
# image, and that the answer is two keyword lists.
VPE_INSTRUCTION = (
    "You will see a set of artworks, each followed by a comment a person wrote about it. Study the "
    "artworks and the comments, and identify artistic features such as the colors that appear or are "
    "mentioned, style, composition, mood, medium, texture, brushwork, lighting, shadow effects, "
    "perspective, and any other notable elements.\n\n"
    "Your job is to find the artistic features this person likes and the ones they dislike, using both "
    "the features of the artworks and what the person says about them. Consider artistic qualities only "
    "and leave the subject matter aside.\n\n"
    "When the person states a preference about an aspect without saying exactly which one (for example, "
    "praising the colors without naming them), name those specific features from the image itself, so "
    "the preference can be understood without seeing the artwork.\n\n"
    "Answer with two short lists of keywords: one with the specific art features the person likes and "
    "one with the specific features they dislike (keywords only, no sentences).\n\n"
    "The images and their comments follow:\n"
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_ROLE_MARKER = re.compile(
    r"\b(comment\s*#?\s*\d+|(?:dis)?liked\s+art\s+features|user|assistant|system|instruction)\s*:", re.IGNORECASE
)


def sanitize_comment(text: Any, max_chars: int = MAX_COMMENT_CHARS) -> str:
    """Make a member's comment safe to place on a "Comment N:" line of the model's prompt.

    The comment must stay data: it is folded onto one line (no fake new turns or lists), angle
    brackets become look-alikes (so "<image>" or "<end_of_utterance>" cannot become special tokens),
    markers the prompt or the answer rely on lose their colon ("Comment 9:", "Assistant:",
    "Liked Art Features:"), and the length is capped.
    """
    if text is None:
        return ""
    text = unicodedata.normalize("NFKC", str(text))
    text = _CONTROL.sub(" ", text)
    text = text.replace("<", "‹").replace(">", "›")
    text = _ROLE_MARKER.sub(lambda m: m.group(1) + " -", text)
    text = " ".join(text.split())
    if len(text) > max_chars:
        cut = text[:max_chars]
        cut = cut[: cut.rfind(" ")] if " " in cut[max_chars // 2 :] else cut
        text = cut.rstrip() + " …"
    return text


def _open_image(path: str | os.PathLike | None, max_side: int = 1024):
    """The comment's image as RGB, or None when it is missing or unreadable (the comment still counts)."""
    if not path:
        return None
    from PIL import Image  # Pillow is a core dependency; imported here to keep module import light

    try:
        with Image.open(path) as image:
            image.draft("RGB", (max_side, max_side))  # JPEGs decode at reduced size directly
            rgb = image.convert("RGB")
        rgb.thumbnail((max_side, max_side))  # the processor shrinks to 448 anyway; save memory
        return rgb
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        log.warning("VPE: cannot open image %s (%s); keeping the comment as text only", path, exc)
        return None


def build_vpe_messages(
    comments: Iterable[Comment] | None, *, max_chars: int = MAX_COMMENT_CHARS
) -> tuple[list[dict], list]:
    """The chat messages and images for one VPE call.

    One user turn: the instruction, then per comment its image (when it opens) followed by
    "Comment N: <text>". N counts the comments kept, in order; empty comments are dropped with
    their image, since an image without a reaction says nothing about taste.
    """
    content: list[dict] = [{"type": "text", "text": VPE_INSTRUCTION}]
    images: list = []
    number = 0
    for comment in comments or []:
        if comment is None:
            continue
        text = sanitize_comment(getattr(comment, "text", None), max_chars)
        if not text:
            continue
        number += 1
        image = _open_image(getattr(comment, "image_path", None))
        if image is not None:
            content.append({"type": "image"})
            images.append(image)
        content.append({"type": "text", "text": f"Comment {number}: {text}"})
    return [{"role": "user", "content": content}], images


MAX_FEATURE_WORDS = 8
MAX_FEATURES = 100

# The method's own headers, found anywhere ("... Disliked Art Features: ..." on one line, as VPE
# writes them), and the looser headers chat models write at the start of a line ("**Dislikes:**",
# "### Liked features", "2. Negative features:").
_EXACT_HEADER = re.compile(r"\b(dis)?liked\s+art\s+features\b[ \t*_`]*[:：]?", re.IGNORECASE)
_LINE_HEADER = re.compile(
    r"^[ \t>#*_\-•·]*(?:\d+[.)][ \t]*)?[*_`]*[ \t]*"
    r"(?P<word>(?:dis)?liked(?:[ \t]+(?:art[ \t]+)?features)?|(?:dis)?likes|positive(?:[ \t]+features)?"
    r"|negative(?:[ \t]+features)?|what[ \t]+(?:they|the[ \t]+(?:person|member|user))[ \t]+(?:dis)?likes?)"
    r"[ \t]*[*_`]*[ \t]*(?:[:：][ \t]*[*_`]*|$)",
    re.IGNORECASE | re.MULTILINE,
)
# "The person likes: a, b. They dislike: c." in running text.
_INLINE_HEADER = re.compile(
    r"\b(?:the\s+(?:person|member|user)|they|he|she)\s+(dis)?likes?\s*[:：]", re.IGNORECASE
)
_BULLET = re.compile(r"^(?:[-*•·+>]+|\d+[.)]|[a-z][.)](?=\s))\s*", re.IGNORECASE)
_MARKDOWN = re.compile(r"(\*\*|__|`+|~~)")
_EXPLANATION = re.compile(r"\s+(?:[-–—]|:)\s+.*$|\s*\(.*?\)\s*|\s*\[.*?\]\s*")
_NOTHING = {"none", "n/a", "na", "nothing", "nothing specific", "none mentioned", "not specified", "none noted", "-", "—"}
_PROSE_START = re.compile(
    r"^(?:here|these|this|that|note|overall|based|in summary|to summarize|let me|hope|i |i'|the person|"
    r"the member|the user|they |it seems|from the|sure|certainly|okay|as an)",
    re.IGNORECASE,
)


def parse_features(text: str | None) -> tuple[list[str], list[str]]:
    """Split a model's answer into (liked, disliked) feature lists.

    Reads the method's exact format ("Liked Art Features: a, b ... Disliked Art Features: c, d") and
    what chat models make of it: the two lists in either order, markdown (bold, headings), bullets
    or numbering, one feature per line, "Likes:"/"Dislikes:" headers, explanations after a dash or
    in brackets, "None", a prompt echoed before the answer, and prose around the lists. Items are
    de-duplicated ignoring case, sentence-like items are dropped, and a feature found in both lists
    is dropped from both, as in the method.
    """
    if not text or not isinstance(text, str):
        return [], []
    if "Assistant:" in text:
        text = text.rsplit("Assistant:", 1)[1]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    headers = sorted(_headers(text), key=lambda h: h[0])
    if not headers:
        return [], []
    lists: dict[int, dict[str, str]] = {1: {}, -1: {}}
    for index, (_start, end, polarity) in enumerate(headers):
        stop = headers[index + 1][0] if index + 1 < len(headers) else len(text)
        for item in _section_items(text[end:stop]):
            if len(lists[polarity]) < MAX_FEATURES:
                lists[polarity].setdefault(item.casefold(), item)
    both = lists[1].keys() & lists[-1].keys()
    return (
        [v for k, v in lists[1].items() if k not in both],
        [v for k, v in lists[-1].items() if k not in both],
    )


def _headers(text: str) -> list[tuple[int, int, int]]:
    """(start, end, polarity) of every list header; a line header inside an exact one is the same."""
    found = [(m.start(), m.end(), -1 if m.group(1) else 1) for m in _EXACT_HEADER.finditer(text)]
    for m in _INLINE_HEADER.finditer(text):
        if not any(start <= m.start() < end or m.start() <= start < m.end() for start, end, _ in found):
            found.append((m.start(), m.end(), -1 if m.group(1) else 1))
    for m in _LINE_HEADER.finditer(text):
        word = m.group("word").lower()
        if any(start <= m.start("word") < end or m.start("word") <= start < m.end() for start, end, _ in found):
            continue
        polarity = -1 if word.startswith(("dis", "negative")) or "dislike" in word else 1
        found.append((m.start(), m.end(), polarity))
    return found


def _section_items(section: str) -> list[str]:
    """The features listed in one section, stopping at prose that follows the list."""
    items: list[str] = []
    blank_seen = False
    for raw_line in section.split("\n"):
        line = _MARKDOWN.sub("", raw_line).strip().lstrip("#").strip()
        if not line:
            blank_seen = bool(items) or blank_seen
            continue
        bulleted = bool(_BULLET.match(line))
        line = _BULLET.sub("", line).strip()
        words = line.split()
        prose = bool(_PROSE_START.match(line)) or (line.endswith((".", "!", "?")) and len(words) > 6 and "," not in line)
        if prose and not bulleted:
            if items:
                break  # "Let me know if ..." after the list: the list is over
            continue
        if blank_seen and items and not bulleted and "," not in line and len(words) > 3:
            break
        for piece in re.split(r"[,;\n]+|\s+/\s+", line):
            item = _clean_item(piece)
            if item:
                items.append(item)
    return items


def _clean_item(piece: str) -> str:
    item = _EXPLANATION.sub("", piece.strip()).strip()
    item = item.strip(" \t.\"'`*_:;!?“”‘’")
    item = re.sub(r"^(?:and|or|&)\s+", "", item, flags=re.IGNORECASE)
    item = " ".join(item.split())
    if not item or item.casefold() in _NOTHING or len(item.split()) > MAX_FEATURE_WORDS:
        return ""
    return item


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
