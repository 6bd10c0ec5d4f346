"""Typed settings: `config.toml`, overridden by `VIPER_<SECTION>__<KEY>` environment variables.

Loaded once by the composition root (`viper.cli`) and passed down; nothing reads it at import time.
Chat tokens are secrets and come only from the environment (`DISCORD_TOKEN`, `TELEGRAM_TOKEN`).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"
ENV_PREFIX = "VIPER_"


class ConfigError(Exception):
    """Bad configuration; the message names the key and where to fix it."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BotSection(_Section):
    min_comments: int = Field(8, ge=1, le=50)
    max_comment_chars: int = Field(1000, ge=20, le=10_000)
    gallery_page_size: int = Field(10, ge=2, le=10)
    progress_interval_s: float = Field(2.0, ge=2.0, le=60.0)
    job_timeout_s: float = Field(900.0, gt=0)
    max_prompt_chars: int = Field(600, ge=10, le=4000)
    max_queued_per_member: int = Field(3, ge=1, le=100)
    require_profile: bool = False


class StorageSection(_Section):
    data_dir: Path = Path("data")
    database: Path | None = None
    # Days a delivered image is kept for its buttons (Reroll, Vary, Compare, Why...); 0 = forever.
    keep_results_days: int = Field(30, ge=0, le=3650)

    @property
    def database_path(self) -> Path:
        return self.database if self.database is not None else self.data_dir / "viper.sqlite3"


class RedisSection(_Section):
    url: str = ""

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if v and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix:// (leave empty for the embedded Redis)")
        return v


class EngineSection(_Section):
    model: str = DEFAULT_MODEL
    refiner: str = "auto"
    device: str = "auto"
    dtype: Literal["fp16", "bf16", "fp32"] = "fp16"
    cache_dir: str = ""
    steps: int = Field(40, ge=1, le=100)
    # The most steps a member may ask for (/imagine --steps, /settings).
    max_steps: int = Field(100, ge=1, le=200)
    guidance: float = Field(5.0, ge=0.0, le=30.0)
    width: int | None = Field(None, ge=64, le=4096)
    height: int | None = Field(None, ge=64, le=4096)
    liked_strength: float = Field(0.85, ge=0.0, le=2.0)
    disliked_strength: float = Field(0.85, ge=0.0, le=2.0)
    # 🎲 Vary: the fraction of the schedule re-run from the delivered image (img2img strength).
    vary_strength: float = Field(0.35, gt=0.0, le=1.0)
    max_side: int = Field(2048, ge=64, le=4096)
    compile: bool = False
    channels_last: bool = False
    fast: bool = False
    fast_refresh: int = Field(3, ge=1, le=20)

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if v not in ("auto", "cpu", "cuda", "mps") and not v.startswith("cuda:"):
            raise ValueError("must be auto, cpu, cuda, cuda:N or mps")
        return v


class ExtractionSection(_Section):
    backend: Literal["lexicon", "vpe", "openai"] = "lexicon"
    # lexicon: the learned judge over the rules' candidates (engine/lexicon_model.py); False = rules only.
    lexicon_judge: bool = True
    # vpe: "" for fp16 (about 17 GB of GPU memory), "4bit" through bitsandbytes (about 6 GB).
    vpe_quantize: Literal["", "4bit"] = ""
    # openai: any OpenAI-compatible chat-completions endpoint that takes images.
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_model: str = ""
    # The key is a secret: set VIPER_EXTRACTION__OPENAI_API_KEY, or the variable named here.
    openai_api_key: SecretStr = SecretStr("")
    openai_api_key_env: str = "OPENAI_API_KEY"
    image_edge: int = Field(448, ge=64, le=4096)
    timeout_s: float = Field(120.0, gt=0, le=3600)
    retries: int = Field(3, ge=0, le=10)

    @field_validator("openai_base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// (e.g. http://127.0.0.1:8000/v1)")
        return v


class WorkerSection(_Section):
    max_jobs: int = Field(8, ge=1, le=64)
    batch_window_ms: int = Field(50, ge=0, le=5000)
    max_batch: int = Field(8, ge=1, le=64)
    job_timeout_s: int = Field(900, ge=10)


class GallerySection(_Section):
    path: Path | None = None
    count: int = Field(50, ge=8, le=500)


class TelegramSection(_Section):
    api_base_url: str = ""
    api_base_file_url: str = ""
    # Groups (chat ids) the bot serves; empty: every chat. Private chats are always served.
    allowed_chats: list[int] = Field(default_factory=list)
    # Telegram user ids allowed to use /admin everywhere (group administrators may in their group).
    admin_ids: list[int] = Field(default_factory=list)


class LimitsSection(_Section):
    images_per_day: int = Field(0, ge=0, le=100_000)  # 0 = unlimited
    cooldown_s: float = Field(0.0, ge=0.0, le=86_400.0)
    exempt_admins: bool = True


class ModerationSection(_Section):
    blocked_terms: list[str] = Field(default_factory=list)
    blocked_patterns: list[str] = Field(default_factory=list)
    log_text: bool = False
    nsfw_check: Literal["auto", "off"] = "auto"
    nsfw_policy: Literal["block", "spoiler", "nsfw_channels"] = "block"

    @field_validator("blocked_patterns")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"{pattern!r} is not a regular expression: {e}") from None
        return v


class MetricsSection(_Section):
    port: int = Field(0, ge=0, le=65_535)  # 0 = off
    host: str = "127.0.0.1"


class DiscordSection(_Section):
    api_base_url: str = ""
    guild_id: int | None = None


class Settings(BaseSettings):
    """Every setting of the project, by section; see config.toml for each key's meaning."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    bot: BotSection = BotSection()
    storage: StorageSection = StorageSection()
    redis: RedisSection = RedisSection()
    engine: EngineSection = EngineSection()
    extraction: ExtractionSection = ExtractionSection()
    worker: WorkerSection = WorkerSection()
    gallery: GallerySection = GallerySection()
    telegram: TelegramSection = TelegramSection()
    discord: DiscordSection = DiscordSection()
    limits: LimitsSection = LimitsSection()
    moderation: ModerationSection = ModerationSection()
    metrics: MetricsSection = MetricsSection()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first: it overrides what config.toml (passed as init values) says.
        return (env_settings, init_settings)

    # Secrets: environment only, never config.toml.
    @property
    def discord_token(self) -> str:
        return os.environ.get("DISCORD_TOKEN", "").strip()

    @property
    def telegram_token(self) -> str:
        return os.environ.get("TELEGRAM_TOKEN", "").strip()


def _describe(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if len(parts) >= 2:
        section, key = parts[0], ".".join(parts[1:])
        env = f"{ENV_PREFIX}{section.upper()}__{parts[1].upper()}"
        return f"[{section}] {key} (environment: {env})"
    return f"[{parts[0]}]" if parts else "config"


def load_settings(path: str | Path | None = None) -> Settings:
    """Read `path` (default: $VIPER_CONFIG, else ./config.toml when present) and the environment.

    Raises ConfigError naming the faulty key, the file and the environment variable to fix.
    """
    if path is None:
        path = os.environ.get("VIPER_CONFIG") or ("config.toml" if Path("config.toml").exists() else None)
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"config file {p} does not exist")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p} is not valid TOML: {e}") from e
    try:
        return Settings(**data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            where = _describe(tuple(err["loc"]))
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{where}: {msg} (got {err.get('input')!r})" if err["type"] != "extra_forbidden" else f"{where}: {msg}")
        src = f" in {path}" if path else ""
        raise ConfigError(f"bad configuration{src}:\n  " + "\n  ".join(problems)) from None
