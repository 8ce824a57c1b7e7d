"""Structured logs with a request id, and the Prometheus metrics of one server.

Every log line is one JSON object, so a log shipper needs no parsing rules,
and every line written while serving a request or a Socket.IO event carries
that request's id, so one grep follows a request through the server. The
formatter also masks any extra field whose name says it holds a credential:
a defence in depth, since nothing here logs request bodies.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import sys
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

from taskstream_core import ScanEvent
from taskstream_core.models import format_time, utc_now

__all__ = [
    "JsonFormatter",
    "LiveMetrics",
    "Metrics",
    "RequestInfo",
    "configure_logging",
    "current_request",
    "new_request_id",
    "request_scope",
]

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_SENSITIVE = re.compile(r"password|passwd|token|secret|authorization|cookie", re.IGNORECASE)
# Attributes every LogRecord has; anything else was passed with ``extra=``.
_STANDARD_ATTRS: Final = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message"}  # uvicorn's copy of the message with ANSI colours
)


@dataclass(slots=True)
class RequestInfo:
    """What the layers of one request share: its id, and the route Sanic matched."""

    id: str
    route: str | None = None


_ids = random.Random()  # noqa: S311  # labels, not secrets; reseeded in a forked child
os.register_at_fork(after_in_child=_ids.seed)
_current: ContextVar[RequestInfo | None] = ContextVar("taskstream_request", default=None)


def new_request_id(proposed: str | None = None) -> str:
    """A caller's own ``X-Request-ID`` when it is harmless to echo and log, else a new one.

    A new one is 32 hex digits, as a uuid4's, drawn from ``random``: it labels
    log lines and needs to be unique, not unguessable, and a system call for
    ``os.urandom`` on every socket event was a measurable part of the server's CPU.
    """
    if proposed and _SAFE_REQUEST_ID.fullmatch(proposed):
        return proposed
    return f"{_ids.getrandbits(128):032x}"


def request_scope(info: RequestInfo) -> None:
    """Make ``info`` the current request for the rest of this task (and its children)."""
    _current.set(info)


def current_request() -> RequestInfo | None:
    return _current.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": format_time(utc_now()),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        info = _current.get()
        if info is not None:
            line["request_id"] = info.id
        for key, value in record.__dict__.items():
            if key in _STANDARD_ATTRS or key.startswith("_"):
                continue
            line[key] = "***" if _SENSITIVE.search(key) else value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(level: str = "info", **fields: object) -> None:
    """Send every logger (ours, uvicorn's, sanic's) as JSON lines to stderr.

    Args:
        level: The lowest level written.
        **fields: Written on every line (a ``--workers`` process: ``worker=<pid>``).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())

    def tag(record: logging.LogRecord) -> bool:
        for name, value in fields.items():
            setattr(record, name, value)
        return True

    if fields:
        handler.addFilter(tag)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "sanic.root", "sanic.error"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
    # Sanic's per-request access lines duplicate ours; engine.io's are per packet.
    logging.getLogger("sanic.access").disabled = True
    for noisy in ("engineio", "socketio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class Metrics:
    """The server's Prometheus metrics, in a registry of its own.

    A registry per server (not the global one) lets a test build several
    servers in one process without "duplicated timeseries" errors.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        process_collector.ProcessCollector(registry=self.registry)
        platform_collector.PlatformCollector(registry=self.registry)
        gc_collector.GCCollector(registry=self.registry)
        self.connected_sockets = Gauge(
            "taskstream_connected_sockets",
            "Socket.IO connections currently authenticated.",
            registry=self.registry,
        )
        self.broker_subscriptions = Gauge(
            "taskstream_broker_subscriptions",
            "Live event subscriptions of this process (one per joined viewer session).",
            registry=self.registry,
        )
        self.events_published = Counter(
            "taskstream_events_published",
            "Scan events published to the broker, by type.",
            ["type"],
            registry=self.registry,
        )
        self.submissions = Counter(
            "taskstream_submissions",
            "Task submissions accepted, by transport and whether they made a new task.",
            ["transport", "outcome"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "taskstream_decisions",
            "Decisions stored, by transport and verdict.",
            ["transport", "decision"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "taskstream_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route pattern and status.",
            ["method", "route", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def track_subscriptions(self, count: Callable[[], int]) -> None:
        """Read the core's viewer count at each scrape rather than keep a second tally."""
        self.broker_subscriptions.set_function(count)


class LiveMetrics:
    """The core's :class:`~taskstream_core.LiveObserver`: counts the events published."""

    def __init__(self, published: Counter) -> None:
        self._published = published

    def published(self, event: ScanEvent) -> None:
        """Count one event handed to the broker, by type."""
        self._published.labels(type=event.type.value).inc()

    def delivered(self, event: ScanEvent, viewers: int) -> None:
        """Nothing: deliveries are counted per transport."""
