"""Bulk reads streamed from the database, several statements in one read snapshot: every stored
document's lookup row in batches, and the saved main segment piece by piece into one buffer.

Opening an index that has no saved segment reads every document's code, word counts and metadata. At
ten million documents those rows are gigabytes as Python objects, so they are read a batch at a time
through a server-side cursor (PostgreSQL) or a stepping statement (SQLite); a segment is built from two
passes over them (``index.assembly``). The saved segment (a GB at that size) is read a piece at a time
into one buffer allocated once, whose arrays the segment then uses in place: fetching it whole and
joining the pieces touched three times its size in fresh memory. Statements run in one transaction,
REPEATABLE READ on PostgreSQL and one read transaction on SQLite, so that they see the same rows
whatever other processes write meanwhile (those writes show in the change log, as for any read).
Byte columns travel in PostgreSQL's binary format: half the bytes of hex, and no decoding.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from hashsearch.index.rows import LookupRows

SCAN_BATCH_ROWS = 50_000
PIECE_READERS = 2  # connections that read a saved segment's pieces at once (PostgreSQL)
Stream = Callable[[str, tuple[Any, ...], int], Iterator[list[Any]]]


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Stream]:
    """A function ``stream(sql, params, batch_rows)`` that runs a query (parameters marked ``{}``) and
    yields its rows ``batch_rows`` at a time; every query it runs sees one read snapshot."""
    connection = engine.raw_connection()
    postgres = engine.dialect.name == "postgresql"
    statements = 0
    try:
        setup = connection.cursor()
        setup.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ" if postgres else "BEGIN")
        setup.close()

        def stream(sql: str, params: tuple[Any, ...], batch_rows: int) -> Iterator[list[Any]]:
            nonlocal statements
            statements += 1
            cursor: Any = (connection.cursor(name=f"hashsearch_read_{statements}") if postgres  # type: ignore[call-arg]
                           else connection.cursor())
            try:
                if postgres:
                    cursor.execute(sql.replace("{}", "%s"), params, binary=True)
                else:
                    cursor.execute(sql.replace("{}", "?"), params)
                while rows := cursor.fetchmany(batch_rows):
                    yield rows
            finally:
                cursor.close()

        yield stream
    finally:
        connection.rollback()
        connection.close()  # back to the pool


@contextmanager
def lookup_scans(engine: Engine, table: str, batch_rows: int | None = None
                 ) -> Iterator[Callable[[], Iterator[LookupRows]]]:
    """A function that starts a pass over every row of the lookup ``table`` (id, code, words, metadata),
    yielding them ``batch_rows`` (``SCAN_BATCH_ROWS``) at a time; every pass sees the same rows."""
    size = SCAN_BATCH_ROWS if batch_rows is None else batch_rows
    with read_snapshot(engine) as stream:

        def scan() -> Iterator[LookupRows]:
            for rows in stream(f"SELECT id, code, words, metadata FROM {table}", (), size):
                yield LookupRows.from_rows(rows)

        yield scan


def read_pieces(engine: Engine, table: str, prefix: str) -> memoryview | None:
    """The ``data`` of the rows of ``table`` named ``prefix`` + 0, 1, 2 and on, joined in that order into
    one buffer; None when there are none, one is missing, or they changed while being read.

    On PostgreSQL the pieces are read by ``PIECE_READERS`` connections at once, each a piece at a time:
    the server reads a piece's TOAST chunks in one process a connection, the opening's longest wait
    (1.1 GB at ten million documents: 2.5-3.1 s by two connections against 6-9 s by one, here). A
    saved segment's pieces are never changed, only deleted with the save they belong to, so a piece
    missing or of another size than listed means it changed (None), without one shared snapshot."""
    with read_snapshot(engine) as stream:
        sizes = {name: int(size) for rows in stream(f"SELECT name, length(data) FROM {table} WHERE name LIKE {{}}",
                                                      (prefix + "%",), 1000) for name, size in rows}
        if not sizes:
            return None
        names = sorted(sizes, key=lambda name: int(name[len(prefix):]))
        if names[-1] != f"{prefix}{len(names) - 1}":  # numbered from 0 with none missing, or not one save's
            return None
        offsets = dict(zip(names, np.cumsum([0] + [sizes[name] for name in names]).tolist(), strict=False))
        # A numpy buffer: numpy asks the kernel for huge pages for it, so filling it faults a 512th as often.
        out = np.empty(sum(sizes.values()), dtype=np.uint8)

        def put(name: str, data: bytes) -> bool:
            if name not in offsets or len(data) != sizes[name]:
                return False
            out[offsets[name]:offsets[name] + len(data)] = np.frombuffer(data, dtype=np.uint8)
            return True

        if engine.dialect.name != "postgresql" or len(names) == 1:
            filled = [put(name, data) for rows in stream(f"SELECT name, data FROM {table} WHERE name LIKE {{}}",
                                                          (prefix + "%",), 1) for name, data in rows]
            return out.data if len(filled) == len(names) and all(filled) else None
    with ThreadPoolExecutor(PIECE_READERS) as pool:
        read = pool.map(lambda group: _read_named(engine, table, group, put), [names[i::PIECE_READERS]
                                                                           for i in range(PIECE_READERS)])
        return out.data if all(list(read)) else None


def _read_named(engine: Engine, table: str, names: list[str], put: Callable[[str, bytes], bool]) -> bool:
    """Read the rows ``names`` of ``table`` one at a time on a connection of its own, each handed to
    ``put``; whether every one was there and ``put`` took it."""
    connection = engine.raw_connection()
    try:
        cursor: Any = connection.cursor()
        for name in names:
            cursor.execute(f"SELECT data FROM {table} WHERE name = %s", (name,), binary=True)
            row = cursor.fetchone()
            if row is None or not put(name, row[0]):
                return False
        return True
    finally:
        connection.rollback()
        connection.close()  # back to the pool
