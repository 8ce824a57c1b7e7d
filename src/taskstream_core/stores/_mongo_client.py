"""The MongoDB store's connection: URL options, error translation, transactions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
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

from .._store import STORE_UNAVAILABLE
from ..errors import Internal, Unavailable
from ._mongo_schema import INDEXES, Doc

__all__ = [
    "DEFAULT_TIMEOUTS_MS",
    "NEEDS_REPLICA_SET",
    "REMOVED_OPTIONS",
    "StoreOptions",
    "guarded",
    "in_transaction",
    "parse_store_url",
    "prepare_database",
    "translate_errors",
]

log = logging.getLogger("taskstream.store.mongodb")

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


#: What a deployment needs, for error messages.
NEEDS_REPLICA_SET: Final = (
    "the MongoDB store runs every change in a transaction, which needs a replica set "
    "or a sharded cluster (mongos); a single-node replica set will do: start mongod "
    "with --replSet rs0, then run rs.initiate() once in mongosh"
)

#: Store options a URL may no longer carry, and why.
REMOVED_OPTIONS: Final = {
    "transactions": f"was removed: {NEEDS_REPLICA_SET}",
    "repair_after": "was removed with the journal it tuned: the MongoDB store runs "
    "every change in a transaction",
}


@dataclass(frozen=True)
class StoreOptions:
    """What the URL says beyond pymongo's own options."""

    event_retention: int = 10_000
    #: Whether the URL sets a write concern itself (``w=`` or ``journal=``).
    explicit_write_concern: bool = False


def parse_store_url(url: str) -> tuple[str, StoreOptions, dict[str, Any]]:
    """Split a store URL into pymongo's URL, the store's options and default client options.

    The store's own query option (``event_retention``) is taken out,
    everything else is left to pymongo verbatim.

    Raises:
        ValueError: The URL is not a MongoDB URL, or names a removed option.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"mongodb", "mongodb+srv"} or not parts.netloc:
        raise ValueError(f"{url!r}: write mongodb://host:port/dbname")
    own: dict[str, str] = {}
    kept: list[str] = []
    for item in parts.query.split("&") if parts.query else []:
        name = item.partition("=")[0]
        if name in REMOVED_OPTIONS:
            raise ValueError(
                f"The MongoDB store URL option {name!r} {REMOVED_OPTIONS[name]}. "
                "Remove it from the URL."
            )
        if name == "event_retention":
            own.update(parse_qsl(item))
        else:
            kept.append(item)
    given = {pair.partition("=")[0].lower() for pair in kept}
    options = StoreOptions(
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
        if _unavailable(exc):  # the details are the operator's, not every caller's
            log.warning("the MongoDB store %s is unavailable: %s", url, exc)
            raise Unavailable(STORE_UNAVAILABLE) from exc
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
) -> AsyncDatabase[Doc]:
    """The URL's database (``taskstream`` by default) with its write concern and indexes.

    Write concern: ``majority``, unless the URL sets one.

    Raises:
        ValueError: The server is a standalone one, which cannot run transactions.
    """
    hello = await client.admin.command("hello")
    if "setName" not in hello and hello.get("msg") != "isdbgrid":
        raise ValueError(f"The MongoDB server is a standalone server: {NEEDS_REPLICA_SET}.")
    concern = None if options.explicit_write_concern else WriteConcern("majority")
    name = client.get_default_database("taskstream").name
    db = client.get_database(name, write_concern=concern)
    for collection, indexes in INDEXES.items():
        for keys, index_options in indexes:
            await db[collection].create_index(keys, **index_options)
    return db


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
