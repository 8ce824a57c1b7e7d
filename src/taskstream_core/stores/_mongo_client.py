"""The MongoDB store's connection: URL options, error translation, transactions."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, Concatenate, Final, ParamSpec, Protocol, TypeVar
from urllib.parse import parse_qsl, urlsplit

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    ConnectionFailure,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WTimeoutError,
)
from pymongo.write_concern import WriteConcern

from ..errors import Internal, Unavailable
from ._mongo_schema import INDEXES, Doc

__all__ = [
    "DEFAULT_TIMEOUTS_MS",
    "StoreOptions",
    "guarded",
    "in_transaction",
    "parse_store_url",
    "prepare_database",
    "translate_errors",
]

_T = TypeVar("_T")
_P = ParamSpec("_P")

#: Applied unless the URL sets them: a web request must not hang for pymongo's 30 s.
DEFAULT_TIMEOUTS_MS: Final = {
    "serverSelectionTimeoutMS": 5_000,
    "connectTimeoutMS": 5_000,
    "socketTimeoutMS": 30_000,
}

#: Server error codes that mean "not now" rather than "never": a primary
#: stepping down or shutting down, an election, an operation cut short.
_RETRYABLE_CODES: Final = frozenset(
    {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}
)


@dataclass(frozen=True)
class StoreOptions:
    """What the URL says beyond pymongo's own options."""

    #: ``auto`` (transactions where the server is a replica-set member or mongos), ``on``, ``off``.
    transactions: str = "auto"
    event_retention: int = 10_000
    #: Whether the URL sets a write concern itself (``w=`` or ``journal=``).
    explicit_write_concern: bool = False


def parse_store_url(url: str) -> tuple[str, StoreOptions, dict[str, Any]]:
    """Split a store URL into pymongo's URL, the store's options and default client options.

    The store's own query options (``transactions``, ``event_retention``) are
    taken out, everything else is left to pymongo verbatim.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"mongodb", "mongodb+srv"} or not parts.netloc:
        raise ValueError(f"{url!r}: write mongodb://host:port/dbname")
    own: dict[str, str] = {}
    kept: list[str] = []
    for item in parts.query.split("&") if parts.query else []:
        name = item.partition("=")[0]
        if name in {"transactions", "event_retention"}:
            own.update(parse_qsl(item))
        else:
            kept.append(item)
    given = {pair.partition("=")[0].lower() for pair in kept}
    transactions = own.get("transactions", "auto").lower()
    if transactions not in {"auto", "on", "off"}:
        raise ValueError("transactions must be auto, on or off")
    options = StoreOptions(
        transactions=transactions,
        event_retention=int(own.get("event_retention", 10_000)),
        explicit_write_concern=bool(given & {"w", "journal", "wtimeoutms"}),
    )
    base = url.split("?", 1)[0]
    defaults: dict[str, Any] = {
        k: v for k, v in DEFAULT_TIMEOUTS_MS.items() if k.lower() not in given
    }
    return (f"{base}?{'&'.join(kept)}" if kept else base), options, defaults


def _unavailable(exc: PyMongoError) -> bool:
    if isinstance(exc, ConnectionFailure | WTimeoutError | ExecutionTimeout):
        return True
    if exc.has_error_label("TransientTransactionError"):  # still conflicting after retries
        return True
    return isinstance(exc, OperationFailure) and exc.code in _RETRYABLE_CODES


@contextlib.contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """pymongo's errors as the contract's: ``Unavailable`` for an outage, else ``Internal``."""
    try:
        yield
    except PyMongoError as exc:
        if _unavailable(exc):
            raise Unavailable(f"The MongoDB store {url} cannot be reached: {exc}") from exc
        raise Internal(f"The MongoDB store {url} failed: {exc}") from exc


class _HasUrl(Protocol):
    @property
    def url(self) -> str: ...


_S = TypeVar("_S", bound=_HasUrl)


def guarded(
    fn: Callable[Concatenate[_S, _P], Coroutine[Any, Any, _T]],
) -> Callable[Concatenate[_S, _P], Coroutine[Any, Any, _T]]:
    """A store method whose pymongo errors become the contract's (:func:`translate_errors`)."""

    async def method(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with translate_errors(self.url):
            return await fn(self, *args, **kwargs)

    method.__name__, method.__qualname__ = fn.__name__, fn.__qualname__
    method.__doc__ = fn.__doc__
    return method


async def prepare_database(
    client: AsyncMongoClient[Doc], options: StoreOptions
) -> tuple[AsyncDatabase[Doc], bool]:
    """The URL's database (``taskstream`` by default) with its write concern and indexes,
    and whether the server is a replica-set member or a mongos.

    Write concern: ``majority`` there, ``w:1, j:true`` on a standalone server,
    unless the URL sets one.
    """
    hello = await client.admin.command("hello")
    replicated = "setName" in hello or hello.get("msg") == "isdbgrid"
    concern = None
    if not options.explicit_write_concern:
        concern = WriteConcern("majority") if replicated else WriteConcern(w=1, j=True)
    name = client.get_default_database("taskstream").name
    db = client.get_database(name, write_concern=concern)
    for collection, indexes in INDEXES.items():
        for keys, index_options in indexes:
            await db[collection].create_index(keys, **index_options)
    return db, replicated


async def in_transaction(
    client: AsyncMongoClient[Any],
    fn: Callable[[AsyncClientSession], Awaitable[_T]],
    *,
    attempts: int = 50,
) -> _T:
    """Run ``fn`` in a transaction, again after a write conflict (jittered backoff).

    Unlike pymongo's ``with_transaction``, an outage is not retried for two
    minutes: a network error ends the call at once, as ``Unavailable``.
    """
    async with client.start_session() as session:
        for attempt in range(attempts):
            await session.start_transaction()
            try:
                result = await fn(session)
                await session.commit_transaction()
                return result
            except PyMongoError as exc:
                if session.in_transaction:
                    await session.abort_transaction()
                transient = exc.has_error_label("TransientTransactionError")
                if isinstance(exc, ConnectionFailure) or not transient or attempt + 1 >= attempts:
                    raise
                await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 20)))  # noqa: S311
            except BaseException:
                if session.in_transaction:
                    await session.abort_transaction()
                raise
    raise AssertionError("unreachable")  # pragma: no cover
