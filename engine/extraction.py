"""Preference extraction: from a member's comments on gallery images to liked/disliked feature lists.

Three backends share one small interface (`Extractor`) and one result type (`ExtractResult`, which
records the backend and its version, so a profile says what made it):

- ``lexicon`` (the default, `engine.lexicon`) reads the comments with a vocabulary of about 450
  visual attributes and plain polarity rules. It runs on any CPU in about a millisecond per member,
  needs nothing downloaded and is deterministic, so onboarding works on the smallest install and in CI.
- ``vpe`` (`engine.vpe_backend`) runs the ViPer method's own extractor: IDEFICS2-8b with the VPE LoRA
  adapter on a GPU, in fp16 or 4-bit. It sees the images, so it can name features no tag mentions.
- ``openai`` (`engine.openai_backend`) asks any OpenAI-compatible chat-completions endpoint with
  vision (vLLM, Ollama, LM Studio, hosted APIs) the same question, images sent as data URLs.

This module picks and builds a backend (`make_extractor`, `extractor_from_settings`) and re-exports
the names callers use. The two model backends share the prompt building (`engine.vpe_prompt`:
`build_vpe_messages`, `sanitize_comment`, a member's text stays quoted data) and the answer parser
(`engine.feature_parser.parse_features`); both sit below the backends, which import them and never
this module. Heavy imports (torch, transformers, peft, httpx) happen only when a model backend is
used, so importing this module, and the whole lexicon path, never touches torch.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from engine.feature_parser import MAX_FEATURE_WORDS, MAX_FEATURES, parse_features
from engine.lexicon import Attribute, Lexicon, LexiconExtractor, Mention, default_lexicon
from engine.vpe_backend import (
    VPE_ADAPTER_ID,
    VPE_IMAGE_SIZE,
    VPE_MAX_NEW_TOKENS,
    VPE_MODEL_ID,
    VPE_REPETITION_PENALTY,
    VpeExtractor,
)
from engine.vpe_prompt import MAX_COMMENT_CHARS, VPE_INSTRUCTION, build_vpe_messages, sanitize_comment
from viper.contracts.errors import InvalidArgument
from viper.contracts.jobs import Comment, ExtractResult

__all__ = [
    "Attribute",
    "BACKENDS",
    "Extractor",
    "Lexicon",
    "LexiconExtractor",
    "MAX_COMMENT_CHARS",
    "MAX_FEATURES",
    "MAX_FEATURE_WORDS",
    "Mention",
    "VPE_ADAPTER_ID",
    "VPE_IMAGE_SIZE",
    "VPE_INSTRUCTION",
    "VPE_MAX_NEW_TOKENS",
    "VPE_MODEL_ID",
    "VPE_REPETITION_PENALTY",
    "VpeExtractor",
    "build_vpe_messages",
    "default_lexicon",
    "extractor_from_settings",
    "extractor_options",
    "make_extractor",
    "parse_features",
    "sanitize_comment",
]


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
