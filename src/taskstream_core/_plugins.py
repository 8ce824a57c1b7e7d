"""Lazy loading of adapters named by URL scheme (stores and brokers alike)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

from ._url import mask_url


def scheme_of(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else ""


def load_adapter(kind: str, url: str, schemes: Mapping[str, str]) -> object:
    """Import the module registered for ``url``'s scheme and call its factory with ``url``.

    The import happens here, at first use of a scheme, so a deployment that
    never says ``mongodb://`` never needs pymongo installed.
    """
    target = schemes.get(scheme_of(url))
    if target is None:
        known = ", ".join(f"{s}://" for s in sorted(schemes))
        raise ValueError(f"Unknown {kind} URL {mask_url(url)!r}: use one of {known}.")
    module_name, _, attribute = target.partition(":")
    factory: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        factory = getattr(factory, part)
    if not callable(factory):
        raise TypeError(f"{target} is not callable")
    call: Callable[[str], object] = factory
    return call(url)
