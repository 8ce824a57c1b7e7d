"""The server's resolved settings, and the secrets file that makes restarts painless.

A deployment that sets neither ``TASKSTREAM_JWT_SECRET`` nor
``TASKSTREAM_ADMIN_INVITE_CODE`` still gets stable values: they are generated
once and kept beside the store, readable by the server's user only, so tokens
stay valid across a restart and the invite code does not change under the
admins' feet. A ``memory://`` store keeps nothing, so neither do its secrets.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

from taskstream_core import Accounts, TokenIssuer, generate_secret

__all__ = [
    "DEFAULT_STORE_URL",
    "Secrets",
    "Settings",
    "SettingsError",
    "load_secrets",
    "secrets_path_for",
]

DEFAULT_STORE_URL: Final = "sqlite:///./taskstream.db"
InviteOrigin = Literal["environment", "kept", "generated"]
_JWT_KEY: Final = "jwt_secret"
_INVITE_KEY: Final = "admin_invite_code"


class SettingsError(Exception):
    """A setting the server cannot start with; the message is shown as it is."""


@dataclass(frozen=True, slots=True)
class Secrets:
    jwt_secret: str = field(repr=False)
    admin_invite_code: str = field(repr=False)
    #: "environment", "kept" (read from ``path``) or "generated" (by this start: show it once).
    invite_code_origin: InviteOrigin = "environment"
    #: Where generated values are kept, or None when nothing is kept.
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server needs, resolved once from arguments and environment."""

    secrets: Secrets
    host: str = "127.0.0.1"
    port: int = 8000
    store_url: str = DEFAULT_STORE_URL
    redis_url: str | None = None
    log_level: str = "info"
    #: Browser origins allowed to call the HTTP API and open Socket.IO connections besides the
    #: server's own; empty means same-origin only.
    cors_allowed_origins: tuple[str, ...] = ()
    #: Seconds to wait for open connections on SIGTERM before cutting them.
    shutdown_timeout: int = 5
    #: Server processes sharing the port (``--workers``); more than one needs ``redis_url``.
    workers: int = 1
    #: Engine.IO transports accepted: long-polling needs every request of a session
    #: to reach the same process, which several workers on one port cannot promise.
    transports: tuple[str, ...] = ("websocket", "polling")
    #: Whether Socket.IO frames go out by the server's fast path (``--no-fast-path``: only
    #: python-socketio's and python-engineio's own public API).
    fast_path: bool = True

    def deployment_problem(self) -> str | None:
        """Why these settings cannot run as several processes, or None."""
        scheme = self.store_url.partition("://")[0].lower() if "://" in self.store_url else ""
        if self.workers < 1:
            return "--workers must be at least 1."
        if self.workers > 1 and not self.redis_url:
            return (
                f"--workers {self.workers} needs --redis-url: the processes share rooms and "
                "events through Redis."
            )
        if scheme == "memory" and (self.workers > 1 or self.redis_url):
            return (
                "memory:// keeps its data inside one process; several processes sharing "
                "--redis-url need a shared store (sqlite:///file.db or mongodb://)."
            )
        if self.workers > 1 and "polling" in self.transports:
            return (
                f"--workers {self.workers} cannot serve Socket.IO long-polling (it needs sticky "
                "sessions); use --transports websocket, or one worker per replica behind a "
                "sticky proxy."
            )
        return None


def secrets_path_for(store_url: str) -> Path | None:
    """Where generated secrets live for a store: beside a SQLite file, else the cwd."""
    scheme = store_url.partition("://")[0].lower() if "://" in store_url else ""
    if scheme == "memory":
        return None
    if scheme == "sqlite":
        raw = urlsplit(store_url).path
        path = raw[1:] if raw.startswith("/") else raw
        if path:
            return Path(path + ".secrets.json")
    return Path("taskstream.secrets.json")


def _check_jwt_secret(value: str, origin: str) -> str:
    if len(value.encode()) < TokenIssuer.MIN_SECRET_BYTES:
        raise SettingsError(f"{origin} must be at least {TokenIssuer.MIN_SECRET_BYTES} bytes long.")
    return value


def _check_invite_code(value: str, origin: str) -> str:
    if len(value) < Accounts.MIN_INVITE_CODE:
        raise SettingsError(
            f"{origin} must be at least {Accounts.MIN_INVITE_CODE} characters long "
            "(a random one is best)."
        )
    return value


def _read(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"Cannot read the secrets file {path}: {exc.strerror}.") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise SettingsError(f"The secrets file {path} is not valid JSON.") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise SettingsError(f"The secrets file {path} must be a JSON object of strings.")
    return data


def _write(path: Path, data: Mapping[str, str]) -> None:
    """Write the file readable by its owner only, atomically (never half-written)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(dict(data), out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)  # O_CREAT's mode is filtered by the umask
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise SettingsError(f"Cannot write the secrets file {path}: {exc.strerror}.") from None


def load_secrets(store_url: str, env: Mapping[str, str]) -> Secrets:
    """The JWT secret and invite code: from the environment, else kept, else generated."""
    jwt_env = env.get("TASKSTREAM_JWT_SECRET") or None
    invite_env = env.get("TASKSTREAM_ADMIN_INVITE_CODE") or None
    if jwt_env is not None:
        _check_jwt_secret(jwt_env, "TASKSTREAM_JWT_SECRET")
    if invite_env is not None:
        _check_invite_code(invite_env, "TASKSTREAM_ADMIN_INVITE_CODE")
    if jwt_env is not None and invite_env is not None:
        return Secrets(jwt_secret=jwt_env, admin_invite_code=invite_env)

    path = secrets_path_for(store_url)
    kept = _read(path) if path is not None else {}
    updated = dict(kept)
    if jwt_env is None and _JWT_KEY not in kept:
        updated[_JWT_KEY] = generate_secret()
    invite_generated = invite_env is None and _INVITE_KEY not in kept
    if invite_generated:
        updated[_INVITE_KEY] = secrets.token_urlsafe(18)
    if path is not None and updated != kept:
        _write(path, updated)
    jwt_secret = jwt_env or _check_jwt_secret(updated[_JWT_KEY], f"'{_JWT_KEY}' in {path}")
    invite = invite_env or _check_invite_code(updated[_INVITE_KEY], f"'{_INVITE_KEY}' in {path}")
    origin: InviteOrigin = "environment"
    if invite_env is None:
        origin = "generated" if invite_generated else "kept"
    return Secrets(
        jwt_secret=jwt_secret,
        admin_invite_code=invite,
        invite_code_origin=origin,
        path=path,
    )
