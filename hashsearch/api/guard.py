"""``database_errors``: the API's public methods raise a failure of the database as the ``HashsearchError``
it means (``store.failures``), so that the CLI and the server print one line, never a driver's traceback."""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from hashsearch.errors import HashsearchError
from hashsearch.store.failures import user_error

F = TypeVar("F", bound=Callable[..., Any])


def database_errors(method: F) -> F:
    """Wrap an API method: a database failure it raises comes out as the matching ``HashsearchError``
    (the original chained as its cause), naming the database (the instance's, or the ``db`` argument)."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except HashsearchError:
            raise
        except Exception as exc:
            error = user_error(exc, _database_name(signature, args, kwargs))
            if error is None:
                raise
            raise error from exc

    return guarded  # type: ignore[return-value]


def _database_name(signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    storage = getattr(args[0], "_storage", None) if args else None
    if storage is not None:
        return str(storage.display_name)
    try:
        return str(signature.bind_partial(*args, **kwargs).arguments.get("db", "hashsearch.db"))
    except TypeError:
        return "the index database"
