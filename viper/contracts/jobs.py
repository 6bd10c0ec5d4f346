"""Job payloads exchanged between the bot and the workers through Redis.

Plain dataclasses of primitives, serialised with msgpack (`dumps`/`loads`), so no chat-platform or
torch object ever crosses the queue. The names of the arq functions live here too, so the bot can
enqueue without importing the engine.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import msgpack
from arq.connections import RedisSettings

EXTRACT_JOB = "extract_preferences"
GENERATE_JOB = "generate_image"
QUEUE_NAME = "viper:queue"


# How workers hold their jobs; the bot's patience while following a job is derived from the same
# numbers (bot/queue.py), so they live here, where both sides read them.
LOCK_TTL_S = 15.0
"""How long a job's in-progress lock lives without a heartbeat: how soon another worker takes over the
job of a worker that died (arq's own default is the job timeout + 10 s)."""
HEARTBEAT_S = 3.0
"""How often a worker renews the locks of the jobs it runs."""
MAX_TRIES = 3
"""Runs a job may start before it fails for good (a graceful stop gives its try back)."""


def progress_key(job_id: str) -> str:
    """Redis key (and pub/sub channel) holding the latest `step/total` progress of a job."""
    return f"viper:progress:{job_id}"


def cancel_key(job_id: str) -> str:
    """Redis key whose presence asks the worker to stop a job at its next step."""
    return f"viper:cancel:{job_id}"


@dataclass
class Comment:
    """One member comment and the gallery image it answers (id and that image's tags)."""

    text: str
    image_id: str | None = None
    image_tags: list[str] = field(default_factory=list)
    image_path: str | None = None


@dataclass
class ExtractRequest:
    member_id: int
    comments: list[Comment]
    backend: str = "lexicon"


@dataclass
class ExtractResult:
    liked: list[str]
    disliked: list[str]
    backend: str
    backend_version: str = ""


ASPECT_RATIOS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9")
"""The aspect ratios a request may name; the worker turns one into a size for its model."""


@dataclass
class GenerateRequest:
    """One image to paint. Fields left None take the worker's `[engine]` defaults.

    - `liked`/`disliked`: the profile's keyword lists (empty: a plain image).
    - `negative_prompt`: the member's `--no` text; it joins the disliked side, it does not replace it.
    - `aspect`: one of `ASPECT_RATIOS`; the worker picks a size of about the model's native pixel
      count in multiples of its size step (SDXL 16:9 -> 1344x768). Ignored when `width` and `height`
      are both given.
    - `strength`: scales both personalisation strengths (1 = as configured, 0 = personalisation off,
      at most 2); `liked_strength`/`disliked_strength` set them outright instead.
    - `init_image`: PNG bytes to start from (🎲 Vary): the image is encoded, noised to
      `init_strength` of the schedule (None: `[engine] vary_strength`) and only that tail is re-run,
      in the same batched loop as every other request.
    - `compare_with`: PNG bytes of a delivered image (⚖ Compare): the result is one image, this
      request's render on the left and `compare_with` on the right, labelled with `compare_labels`
      above each half (the halves themselves are untouched pixels).
    """

    prompt: str
    liked: list[str] = field(default_factory=list)
    disliked: list[str] = field(default_factory=list)
    negative_prompt: str = ""
    seed: int = 0
    steps: int | None = None
    width: int | None = None
    height: int | None = None
    guidance: float | None = None
    liked_strength: float | None = None
    disliked_strength: float | None = None
    shuffle: bool = True
    aspect: str | None = None
    strength: float | None = None
    init_image: bytes | None = None
    init_strength: float | None = None
    compare_with: bytes | None = None
    compare_labels: list[str] = field(default_factory=lambda: ["plain", "personalised"])


@dataclass
class GenerateResult:
    png: bytes
    seed: int
    width: int
    height: int
    steps: int
    model: str
    is_tiny: bool = False
    prompt_truncated: bool = False
    liked_used: list[str] = field(default_factory=list)
    disliked_used: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # How the image was made beyond the fields above: "txt2img", "img2img" (Vary) or "compare".
    method: str = "txt2img"
    liked_strength: float = 0.0
    disliked_strength: float = 0.0
    negative_prompt: str = ""
    # The worker's image safety check ([moderation] nsfw_check): whether it ran, and whether it
    # flagged the image; the bot applies [moderation] nsfw_policy to a flagged one.
    nsfw_checked: bool = False
    nsfw: bool = False


def to_dict(obj: Any) -> dict:
    return dataclasses.asdict(obj)


def from_dict(cls, data: dict):
    """Build dataclass `cls` from `data`, ignoring unknown keys (forward compatibility)."""
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    if cls is ExtractRequest:
        kwargs["comments"] = [from_dict(Comment, c) if isinstance(c, dict) else c for c in kwargs.get("comments", [])]
    return cls(**kwargs)


def dumps(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def loads(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


# -- the wire: what arq writes to Redis, and how both sides connect --------------------------------


def serialize(obj: Any) -> bytes:
    """msgpack, with exceptions (arq's own, for failed jobs) turned into plain dicts."""

    def default(o: Any) -> Any:
        if isinstance(o, BaseException):
            return {"__exception__": type(o).__name__, "message": str(o)}
        raise TypeError(f"cannot serialise {type(o).__name__}")

    return msgpack.packb(obj, use_bin_type=True, default=default)


def deserialize(data: bytes) -> Any:
    return loads(data)


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_retries = 2
    settings.conn_timeout = 2
    return settings
