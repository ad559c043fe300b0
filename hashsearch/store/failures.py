"""What a failure of the database means for the user, as one of hashsearch's own errors.

The database driver and SQLAlchemy report a damaged page, a missing table or a read-only file as their
own exceptions, with a page of context; the API turns them into a ``HashsearchError`` whose message
names the database, the problem and what to do (the CLI prints it as one line, the server as a 400 with
the message). Nothing is written when one is raised: every write is one transaction.
"""
from __future__ import annotations

import json
import re
import sqlite3

import sqlalchemy as sa

from hashsearch.errors import HashsearchError, IndexDamagedError, IndexNotFoundError, IndexReadOnlyError

_READ_ONLY = re.compile(r"readonly database|read-only|readonly|permission denied", re.IGNORECASE)
_DAMAGED = re.compile(r"malformed|not a database|corrupt|disk i/o error", re.IGNORECASE)
_MISSING_TABLE = re.compile(r"no such table: (\S+)|relation \"([^\"]+)\" does not exist", re.IGNORECASE)
_CANNOT_OPEN = re.compile(r"unable to open database file|could not connect|connection refused", re.IGNORECASE)


def user_error(exc: BaseException, name: str) -> HashsearchError | None:
    """The ``HashsearchError`` that ``exc`` (raised while working on the database ``name``) means, or None
    when it is not a failure of the database or of what it stores."""
    rebuild = f"Restore it from a backup, or rebuild it: hashsearch index SOURCE --db {name} --retrain."
    if isinstance(exc, sa.exc.DBAPIError) or _is_driver_error(exc):
        reason = reason_of(exc)
        if _READ_ONLY.search(reason):
            return IndexReadOnlyError(f"{name} is read-only for this process ({reason}); the index is unchanged. "
                                      "Give write permission to the file and its folder, or copy the index.")
        if (table := _MISSING_TABLE.search(reason)) is not None:
            return IndexDamagedError(f"{name} lacks the table {table.group(1) or table.group(2)}: the index is "
                                     f"incomplete. {rebuild}")
        if _DAMAGED.search(reason):
            return IndexDamagedError(f"{name} is damaged ({reason}). {rebuild}")
        if _CANNOT_OPEN.search(reason):
            return IndexNotFoundError(f"{name} cannot be opened ({reason}). Check that it exists and that this "
                                      "process may read it (and write beside it: SQLite keeps a journal there).")
        return IndexDamagedError(f"{name}: the database failed ({reason}). {rebuild}")
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)) or type(exc).__name__ == "SafetensorError":
        return IndexDamagedError(f"{name}: its stored model or vocabulary is damaged ({exc}). {rebuild}")
    return None


def _is_driver_error(exc: BaseException) -> bool:
    """An error of the database driver itself (the by-id reads use the driver's connection directly)."""
    return isinstance(exc, sqlite3.Error) or type(exc).__module__.split(".")[0] == "psycopg"


def reason_of(exc: BaseException) -> str:
    """The driver's own message, first line only."""
    orig = getattr(exc, "orig", None)
    return (str(orig) if orig is not None else str(exc)).splitlines()[0]
