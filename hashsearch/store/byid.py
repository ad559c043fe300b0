"""Reads of a few rows by id, the per-query reads (snippets, documents), kept fast.

Every query reads its hits' snippets, so these reads go straight to the driver on kept connections:
SQLAlchemy's statement building, result handling and pool checkout cost several times more than
SQLite's own work for ten rows. The SQL is the same on every backend.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

IDS_PER_STATEMENT = 2000


class ByIdReader:
    """Rows of one table by id, on driver connections kept between calls (one per concurrent caller)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._idle: list[Any] = []  # list.append and list.pop are atomic: no lock per query

    def read(self, table: sa.Table, columns: Sequence[str], ids: Sequence[str]) -> list[tuple]:
        """Rows (id, *columns) for the given ids, in no order; ids not stored are absent."""
        if not ids:
            return []
        unique = list(dict.fromkeys(ids))
        try:
            return self._read(self._take(), table.name, ", ".join(columns), unique)
        except self._engine.dialect.loaded_dbapi.Error:
            # A kept connection can go stale (a database server restarted): retry once on a new one.
            return self._read(self._connect(), table.name, ", ".join(columns), unique)

    def close(self) -> None:
        while self._idle:
            try:
                self._idle.pop().close()
            except IndexError:  # another thread took the last one
                break

    def _read(self, connection: Any, table: str, columns: str, ids: list[str]) -> list[tuple]:
        found: list[tuple] = []
        try:
            cursor = connection.cursor()
            for start in range(0, len(ids), IDS_PER_STATEMENT):
                chunk = ids[start:start + IDS_PER_STATEMENT]
                cursor.execute(_select_by_ids(self._engine.dialect.paramstyle, table, columns, len(chunk)), chunk)
                found.extend(cursor.fetchall())
            cursor.close()
        except BaseException:
            connection.close()  # in an unknown state: never reused
            raise
        self._idle.append(connection)
        return found

    def _take(self) -> Any:
        try:
            return self._idle.pop()
        except IndexError:
            return self._connect()

    def _connect(self) -> Any:
        """A driver connection of its own (outside the pool), in autocommit so that every read sees the
        latest commit and no transaction stays open between queries."""
        pooled = self._engine.raw_connection()
        connection = pooled.dbapi_connection
        assert connection is not None  # a pooled connection just checked out is open
        pooled.detach()
        connection.rollback()
        self._engine.dialect.set_isolation_level(connection, "AUTOCOMMIT")
        return connection


@lru_cache(maxsize=256)
def _select_by_ids(paramstyle: str, table: str, columns: str, n_ids: int) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    return f"SELECT id, {columns} FROM {table} WHERE id IN ({', '.join([mark] * n_ids)})"
