"""The server's settings, from one table of flags and environment variables, and its secrets.

Unless ``TASKSTREAM_JWT_SECRET`` and ``TASKSTREAM_ADMIN_INVITE_CODE`` are set, the secrets
are generated once and kept beside the store (mode 0600), so tokens and the invite code
survive a restart; a ``memory://`` store keeps nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from taskstream_core import TokenIssuer, __version__, generate_secret

from .observability import LOG_FORMATS

__all__ = [
    "DEFAULT_STORE_URL",
    "Secrets",
    "Settings",
    "SettingsError",
    "build_parser",
    "load_secrets",
    "resolve_settings",
    "secrets_path_for",
]

DEFAULT_STORE_URL: Final = "sqlite:///./taskstream.db"
InviteOrigin = Literal["environment", "kept", "generated"]
_TRANSPORTS: Final = ("websocket", "websocket,polling")
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)


class SettingsError(Exception):
    """A setting the server cannot start with; the message is shown as it is."""


@dataclass(frozen=True, slots=True)
class Secrets:
    """The JWT secret and admin invite code, and where they came from."""

    jwt_secret: str = field(repr=False)
    admin_invite_code: str = field(repr=False)
    #: "environment", "kept" (read from ``path``) or "generated" (by this start: show it once).
    invite_code_origin: InviteOrigin = "environment"
    #: Where generated values are kept, or None when nothing is kept.
    path: Path | None = None


def _option(default: Any, text: str, env: str = "", flag: str = "", **options: Any) -> Any:
    """A :class:`Settings` field that is also a flag (``--<name>``) and an environment variable."""
    return field(default=default, metadata={"env": env, "flag": flag, "help": text, **options})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server needs, resolved once; each field but ``secrets`` is a flag."""

    secrets: Secrets
    host: str = _option("127.0.0.1", "address to listen on")
    port: int = _option(8000, "port to listen on", type=int)
    store_url: str = _option(
        DEFAULT_STORE_URL,
        "storage URL: sqlite:///path.db, memory://, mongodb://host/db",
        "TASKSTREAM_STORE_URL",
        "--store",
        metavar="URL",
    )
    redis_url: str | None = _option(
        None, "share rooms and events through Redis", "TASKSTREAM_REDIS_URL", metavar="URL"
    )
    log_level: str = _option(
        "info",
        "the lowest level logged",
        "TASKSTREAM_LOG_LEVEL",
        type=str.lower,
        choices=LOG_LEVELS,
    )
    log_format: str = _option(
        "auto",
        "log lines as text or JSON; auto: text on a terminal, JSON otherwise",
        "TASKSTREAM_LOG_FORMAT",
        type=str.lower,
        choices=LOG_FORMATS,
    )
    cors_allowed_origins: tuple[str, ...] = _option(
        (),
        "a browser origin (scheme://host[:port]) allowed to call the API and open Socket.IO "
        "connections besides the server's own; repeatable; env comma-separated",
        "TASKSTREAM_CORS_ORIGINS",
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
    )
    shutdown_timeout: int = _option(5, "seconds to wait for connections on SIGTERM", type=int)
    workers: int = _option(
        1,
        "server processes sharing the port; more than one needs --redis-url and a shared store",
        "TASKSTREAM_WORKERS",
        type=int,
    )
    transports: tuple[str, ...] = _option(
        ("websocket", "polling"),
        "Socket.IO transports, websocket or websocket,polling; default websocket,polling "
        "with one worker, else websocket",
        "TASKSTREAM_TRANSPORTS",
        choices=_TRANSPORTS,
        metavar="LIST",
    )
    undo_seconds: float = _option(
        10.0,
        "seconds after a decision during which the admin who made it may undo it; 0: no undo",
        "TASKSTREAM_UNDO_SECONDS",
        type=float,
        metavar="SECONDS",
    )
    fast_path: bool = _option(
        True,
        "send frames by the fast path; --no-fast-path: python-socketio's public API only (on|off)",
        "TASKSTREAM_FAST_PATH",
        action=argparse.BooleanOptionalAction,
    )


_OPTIONS: Final = dataclasses.fields(Settings)[1:]
#: What a switch's environment variable may say.
_SWITCH: Final = {
    **dict.fromkeys(("1", "on", "true", "yes"), True),
    **dict.fromkeys(("0", "off", "false", "no"), False),
}


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    """The command line of :class:`Settings`, each default read from its variable in ``env``."""
    parser = argparse.ArgumentParser(
        prog="taskstream-server",
        description="The TaskStream reference server: HTTP API, Socket.IO and web pages.",
    )
    for option in _OPTIONS:
        meta = dict(option.metadata)
        env_name, flag, text = meta.pop("env"), meta.pop("flag"), meta.pop("help")
        listed = isinstance(option.default, tuple)  # a list: read in resolve_settings
        default = None if listed else option.default
        value = default if listed else env.get(env_name) or default
        if isinstance(value, str) and isinstance(default, bool):  # else refused when resolved
            value = _SWITCH.get(value.strip().lower(), value)
        notes = [f"env {env_name}"] * bool(env_name) + [f"default {default}"] * (
            default is not None
        )
        parser.add_argument(
            flag or f"--{option.name.replace('_', '-')}",
            dest=option.name,
            default=value,
            help=f"{text} ({'; '.join(notes)})" if notes else text,
            **meta,
        )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def resolve_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """The settings of parsed arguments.

    Raises:
        SettingsError: A value the server cannot start with, or settings that cannot run
            as several processes; the message says which and why.
    """
    values = {option.name: getattr(args, option.name) for option in _OPTIONS}
    origins = values["cors_allowed_origins"] or env.get("TASKSTREAM_CORS_ORIGINS", "").split(",")
    values["cors_allowed_origins"] = tuple(o.strip() for o in origins if o.strip())
    for origin in values["cors_allowed_origins"]:  # one with a path would never match
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise SettingsError(
                f"--cors-origin {origin!r} is not an origin: write scheme://host[:port], "
                "without a path or a trailing slash."
            )
    transports = values["transports"] or env.get("TASKSTREAM_TRANSPORTS")
    values["transports"] = transports or ("websocket" if args.workers > 1 else "websocket,polling")
    for option in _OPTIONS:  # argparse does not check a default read from env
        choices = option.metadata.get("choices", ())
        if choices and values[option.name] not in choices:
            raise SettingsError(f"{option.metadata['env']} must be one of {', '.join(choices)}.")
    values["transports"] = tuple(values["transports"].split(","))
    if not isinstance(values["fast_path"], bool):
        raise SettingsError("TASKSTREAM_FAST_PATH must be on or off.")
    if not 0 <= values["undo_seconds"] < float("inf"):  # NaN fails this too
        raise SettingsError("--undo-seconds must be a number of seconds, 0 or more.")
    problem = _deployment_problem(values)
    if problem is not None:  # before secrets are generated and kept for a start that fails
        raise SettingsError(problem)
    return Settings(secrets=load_secrets(values["store_url"], env), **values)


def _deployment_problem(values: Mapping[str, Any]) -> str | None:
    """Why the settings' ``values`` cannot run as several processes, or None."""
    workers, redis_url, store_url = values["workers"], values["redis_url"], values["store_url"]
    if workers < 1:
        return "--workers must be at least 1."
    if workers > 1 and not redis_url:
        return f"--workers {workers} needs --redis-url: the processes share rooms and events."
    if store_url.lower().startswith("memory:") and (workers > 1 or redis_url):
        return (
            "memory:// keeps its data inside one process; several processes sharing "
            "--redis-url need a shared store (sqlite:///file.db or mongodb://)."
        )
    if workers > 1 and "polling" in values["transports"]:
        return (
            f"--workers {workers} cannot serve Socket.IO long-polling (it needs sticky "
            "sessions); use --transports websocket, or one worker per replica behind a "
            "sticky proxy."
        )
    return None


def secrets_path_for(store_url: str) -> Path | None:
    """Where generated secrets live for a store: beside a SQLite file, else the cwd."""
    scheme = store_url.partition("://")[0].lower() if "://" in store_url else ""
    if scheme == "memory":
        return None
    path = urlsplit(store_url).path.removeprefix("/") if scheme == "sqlite" else ""
    return Path(path + ".secrets.json") if path else Path("taskstream.secrets.json")


def _check(value: str, minimum: int, unit: str, what: str) -> str:
    """``value``, or a :class:`SettingsError` saying that ``what`` is too short."""
    if (len(value.encode()) if unit == "bytes" else len(value)) < minimum:
        if minimum == 1:
            raise SettingsError(f"{what} must not be empty.")
        raise SettingsError(f"{what} must be at least {minimum} {unit} long.")
    return value


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"Cannot read the secrets file {path}: {exc.strerror}.") from None
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
            out.write(json.dumps(dict(data), indent=2) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)  # O_CREAT's mode is filtered by the umask
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise SettingsError(f"Cannot write the secrets file {path}: {exc.strerror}.") from None


def load_secrets(store_url: str, env: Mapping[str, str]) -> Secrets:
    """The JWT secret and invite code: from the environment, else kept, else generated.

    Raises:
        SettingsError: A JWT secret too short, a kept invite code empty, or a secrets file
            that cannot be read or written.
    """
    jwt_env = env.get("TASKSTREAM_JWT_SECRET") or None
    invite_env = env.get("TASKSTREAM_ADMIN_INVITE_CODE") or None
    jwt_bytes = TokenIssuer.MIN_SECRET_BYTES
    if jwt_env is not None:
        _check(jwt_env, jwt_bytes, "bytes", "TASKSTREAM_JWT_SECRET")
    if jwt_env is not None and invite_env is not None:
        return Secrets(jwt_secret=jwt_env, admin_invite_code=invite_env)
    path = secrets_path_for(store_url)
    kept = _read(path) if path is not None else {}
    updated = dict(kept)
    if jwt_env is None:
        updated.setdefault("jwt_secret", generate_secret())
    if invite_env is None:
        updated.setdefault("admin_invite_code", secrets.token_urlsafe(18))
    if path is not None and updated != kept:
        _write(path, updated)
    jwt = jwt_env or _check(updated["jwt_secret"], jwt_bytes, "bytes", f"'jwt_secret' in {path}")
    invite = invite_env or _check(
        updated["admin_invite_code"], 1, "characters", f"'admin_invite_code' in {path}"
    )
    origin: InviteOrigin = "environment"
    if invite_env is None:
        origin = "kept" if "admin_invite_code" in kept else "generated"
    return Secrets(jwt, invite, origin, path)
