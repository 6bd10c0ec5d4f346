"""config.toml + VIPER_<SECTION>__<KEY> overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from viper.contracts.config import ConfigError, load_settings

REPO = Path(__file__).resolve().parents[1]


def test_the_shipped_config_toml_loads_with_the_documented_defaults(monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("VIPER_"):
            monkeypatch.delenv(key)
    s = load_settings(REPO / "config.toml")
    assert s.engine.model == "stabilityai/stable-diffusion-xl-base-1.0"
    assert s.engine.steps == 40 and s.engine.guidance == 5.0
    assert s.engine.liked_strength == 0.85 and s.engine.disliked_strength == 0.85
    assert s.bot.min_comments == 8
    assert s.redis.url == ""  # embedded Redis by default
    assert s.storage.database_path == Path("data") / "viper.sqlite3"


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[engine]\nmodel = "some/model"\nsteps = 30\n[bot]\nmin_comments = 10\n')
    monkeypatch.setenv("VIPER_ENGINE__MODEL", "tiny")
    monkeypatch.setenv("VIPER_STORAGE__DATA_DIR", str(tmp_path / "srv"))
    monkeypatch.setenv("VIPER_TELEGRAM__API_BASE_URL", "http://127.0.0.1:8081/bot")
    monkeypatch.setenv("VIPER_BOT__MIN_COMMENTS", "8")
    s = load_settings(cfg)
    assert s.engine.model == "tiny"
    assert s.engine.steps == 30  # untouched keys keep the file's value
    assert s.bot.min_comments == 8
    assert s.storage.data_dir == tmp_path / "srv"
    assert s.storage.database_path == tmp_path / "srv" / "viper.sqlite3"
    assert s.telegram.api_base_url == "http://127.0.0.1:8081/bot"


def test_tokens_come_only_from_the_environment(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[telegram]\ntoken = "123:abc"\n')
    with pytest.raises(ConfigError, match=r"\[telegram\] token.*unknown key"):
        load_settings(cfg)
    monkeypatch.setenv("TELEGRAM_TOKEN", " 123:abc ")
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    s = load_settings(REPO / "config.toml")
    assert s.telegram_token == "123:abc" and s.discord_token == ""


@pytest.mark.parametrize(
    "toml, env, fragment",
    [
        ("[engine]\nsteps = 0\n", {}, "[engine] steps"),
        ("[engine]\nmodell = 'x'\n", {}, "[engine] modell"),
        ("[redis]\nurl = 'localhost:6379'\n", {}, "[redis] url"),
        ("", {"VIPER_BOT__MIN_COMMENTS": "many"}, "VIPER_BOT__MIN_COMMENTS"),
        ("[engine\n", {}, "not valid TOML"),
    ],
)
def test_bad_config_fails_with_a_message_naming_the_key(tmp_path, monkeypatch, toml, env, fragment):
    cfg = tmp_path / "config.toml"
    cfg.write_text(toml)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert fragment in str(info.value)


def test_a_missing_config_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
