"""Logs (JSON or text, each line with its request's id) and the Prometheus metrics of one server.

Extra fields whose name says they hold a credential are masked, as a defence in depth.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import re
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TextIO

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
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from taskstream_core import ScanEvent
from taskstream_core.models import format_time, utc_now

__all__ = [
    "LOG_FORMATS",
    "JsonFormatter",
    "LiveMetrics",
    "Metrics",
    "RequestInfo",
    "TextFormatter",
    "configure_logging",
    "current_request",
    "new_request_id",
    "request_scope",
]

#: ``--log-format`` choices: ``auto`` is text on a terminal, JSON otherwise.
LOG_FORMATS: Final = ("auto", "text", "json")
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_SENSITIVE = re.compile(r"password|passwd|token|secret|authorization|cookie", re.IGNORECASE)
_STANDARD_ATTRS: Final = frozenset(  # uvicorn adds color_message, a copy with ANSI colours
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message"}
)


@dataclass(slots=True)
class RequestInfo:
    """What the layers of one request share: its id, and the route Sanic matched."""

    id: str
    route: str | None = None


_ids = random.Random()  # noqa: S311  # labels, not secrets (os.urandom per event cost CPU)
os.register_at_fork(after_in_child=_ids.seed)
_current: ContextVar[RequestInfo | None] = ContextVar("taskstream_request", default=None)


def new_request_id(proposed: str | None = None) -> str:
    """``proposed`` when it is safe to echo and log, else 32 new hex digits."""
    if proposed and _SAFE_REQUEST_ID.fullmatch(proposed):
        return proposed
    return f"{_ids.getrandbits(128):032x}"


def request_scope(info: RequestInfo) -> None:
    """Make ``info`` the current request for the rest of this task (and its children)."""
    _current.set(info)


def current_request() -> RequestInfo | None:
    """The request being served by this task, if any."""
    return _current.get()


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's request id and ``extra=`` fields, credentials masked."""
    info = _current.get()
    fields: dict[str, Any] = {} if info is None else {"request_id": info.id}
    for key, value in record.__dict__.items():
        if key not in _STANDARD_ATTRS and not key.startswith("_"):
            fields[key] = "***" if _SENSITIVE.search(key) else value
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": format_time(utc_now()),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``12:00:00 INFO taskstream.http  message  key=value``; a ``_plain`` record as it is."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if getattr(record, "_plain", False):
            return message
        time = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        said = message.split()  # what the message already says is not repeated
        shown = {k: v for k, v in _fields(record).items() if v is not None and str(v) not in said}
        extras = " ".join(f"{k}={v}" for k, v in shown.items())
        line = f"{time} {record.levelname:<7} {record.name}  {message}  {extras}".rstrip()
        return line + ("\n" + self.formatException(record.exc_info) if record.exc_info else "")


def configure_logging(
    level: str = "info",
    log_format: str = "auto",
    stream: TextIO | None = None,
    fields: Mapping[str, object] | None = None,
) -> None:
    """Send every logger (ours, uvicorn's, Sanic's) to ``stream`` (stderr).

    Args:
        level: The lowest level written.
        log_format: ``text``, ``json``, or ``auto``: text when ``stream`` is a terminal.
        stream: Where lines go; stderr by default.
        fields: Written on every line (a ``--workers`` process: ``worker=<pid>``).
    """
    stream = stream or sys.stderr
    text = log_format == "text" or (log_format == "auto" and stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter() if text else JsonFormatter())

    def tag(record: logging.LogRecord) -> bool:
        record.__dict__.update(fields or {})
        return True

    handler.addFilter(tag)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "sanic.root", "sanic.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("sanic.access").disabled = True  # our access lines cover it
    for noisy in ("engineio", "socketio"):  # a line per packet below WARNING
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class Metrics:
    """The server's Prometheus metrics, in a registry of its own (several servers per process)."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        process_collector.ProcessCollector(registry=registry)
        platform_collector.PlatformCollector(registry=registry)
        gc_collector.GCCollector(registry=registry)
        gauge = functools.partial(Gauge, registry=registry)
        counter = functools.partial(Counter, registry=registry)
        self.connected_sockets = gauge("taskstream_connected_sockets", "Signed-in sockets.")
        self.broker_subscriptions = gauge(
            "taskstream_broker_subscriptions", "Live event subscriptions (joined viewer sessions)."
        )
        self.events_published = counter(
            "taskstream_events_published", "Scan events published, by type.", ["type"]
        )
        self.submissions = counter(
            "taskstream_submissions",
            "Task submissions accepted, by transport and outcome (created or replayed).",
            ["transport", "outcome"],
        )
        self.decisions = counter(
            "taskstream_decisions",
            "Decisions stored, by transport and verdict.",
            ["transport", "decision"],
        )
        self.http_latency = Histogram(
            "taskstream_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route pattern and status.",
            ["method", "route", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=registry,
        )
        self.sent = SentCounts()
        registry.register(self.sent)
        self.fast_path = gauge("taskstream_socket_fast_path", "1 while the fast path is installed.")
        self._children: dict[tuple[Counter, tuple[str, ...]], Counter] = {}

    def count(self, counter: Counter, *labels: str) -> None:
        """Add one to ``counter``'s child of ``labels`` (values in the labels' order).

        Each child is looked up once: ``labels()`` takes a lock and checks its arguments.
        """
        child = self._children.get((counter, labels))
        if child is None:
            child = self._children[counter, labels] = counter.labels(*labels)
        child.inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class SentCounts(Collector):
    """``taskstream_socket_events_sent_total{path}`` from two plain counts, bumped once per
    frame (a prometheus ``Counter`` takes a lock per increment, which fan-out pays per socket).
    """

    def __init__(self) -> None:
        #: Live events the fast path wrote.
        self.fast_path = 0
        #: Live events queued on python-engineio.
        self.engineio = 0

    def collect(self) -> Iterator[Metric]:
        """The counter family, read when ``/metrics`` is scraped."""
        family = CounterMetricFamily(
            "taskstream_socket_events_sent",
            "Live events sent, by path: fast_path or engineio.",
            labels=["path"],
        )
        family.add_metric(["fast_path"], self.fast_path)
        family.add_metric(["engineio"], self.engineio)
        yield family


class LiveMetrics:
    """The core's :class:`~taskstream_core.LiveObserver`: counts the events published."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def published(self, event: ScanEvent) -> None:
        """Count one event handed to the broker, by type."""
        self._metrics.count(self._metrics.events_published, event.type.value)

    def delivered(self, event: ScanEvent, viewers: int) -> None:
        """Nothing: deliveries are counted per transport."""
