"""The server's settings: every option's environment variable is read, and a setting that
cannot work is refused, with one sentence, before anything is written."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from taskstream_server.settings import Settings, SettingsError, build_parser, resolve_settings

SECRETS = {"TASKSTREAM_JWT_SECRET": "s" * 40, "TASKSTREAM_ADMIN_INVITE_CODE": "i" * 20}
REDIS = "redis://127.0.0.1:6379/3"

#: Each option's variable: what it is set to (with what it needs), and the setting it gives.
FROM_ENV: dict[str, tuple[dict[str, str], Any]] = {
    "store_url": ({"TASKSTREAM_STORE_URL": "sqlite:///elsewhere.db"}, "sqlite:///elsewhere.db"),
    "redis_url": ({"TASKSTREAM_REDIS_URL": REDIS}, REDIS),
    "log_level": ({"TASKSTREAM_LOG_LEVEL": "WARNING"}, "warning"),
    "log_format": ({"TASKSTREAM_LOG_FORMAT": "json"}, "json"),
    "cors_allowed_origins": (
        {"TASKSTREAM_CORS_ORIGINS": "http://a.example, http://b.example:8080"},
        ("http://a.example", "http://b.example:8080"),
    ),
    "workers": (
        {
            "TASKSTREAM_WORKERS": "2",
            "TASKSTREAM_REDIS_URL": REDIS,
            "TASKSTREAM_TRANSPORTS": "websocket",
        },
        2,
    ),
    "transports": ({"TASKSTREAM_TRANSPORTS": "websocket"}, ("websocket",)),
    "undo_seconds": ({"TASKSTREAM_UNDO_SECONDS": "2.5"}, 2.5),
    "fast_path": ({"TASKSTREAM_FAST_PATH": "off"}, False),
}


def resolve(env: dict[str, str], *argv: str) -> Settings:
    return resolve_settings(build_parser(env).parse_args(list(argv)), env)


def test_every_option_with_a_variable_is_in_the_table() -> None:
    """A new option's variable is tested here once it is added to :data:`FROM_ENV`."""
    with_env = {f.name for f in dataclasses.fields(Settings) if f.metadata.get("env")}
    assert with_env == set(FROM_ENV)


@pytest.mark.parametrize("name", FROM_ENV)
def test_each_option_is_read_from_its_environment_variable(name: str) -> None:
    """The variable alone sets the option (flags, tested elsewhere, win over it)."""
    env, expected = FROM_ENV[name]
    assert getattr(resolve({**SECRETS, **env}), name) == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TASKSTREAM_FAST_PATH": "maybe"}, "TASKSTREAM_FAST_PATH must be on or off"),
        ({"TASKSTREAM_LOG_LEVEL": "verbose"}, "TASKSTREAM_LOG_LEVEL must be one of"),
        ({"TASKSTREAM_WORKERS": "2"}, "needs --redis-url"),
    ],
)
def test_a_value_that_cannot_work_is_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        resolve({**SECRETS, **env})


def test_a_refused_start_keeps_no_generated_secret(tmp_path: Path) -> None:
    """The secrets file is written only for settings that can start (a generated invite
    code is printed on the start that writes it)."""
    store = f"sqlite:///{tmp_path}/t.db"
    with pytest.raises(SettingsError):
        resolve({}, "--store", store, "--workers", "2")
    assert list(tmp_path.iterdir()) == []
    assert resolve({}, "--store", store).secrets.invite_code_origin == "generated"
    assert (tmp_path / "t.db.secrets.json").is_file()
