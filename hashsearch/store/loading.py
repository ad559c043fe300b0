"""Writing many documents at once: each document is a row in three tables (documents, lookup,
snippets; see ``schema``). On SQLite the rows go in by ``executemany`` a chunk at a time; on
PostgreSQL by ``COPY ... FROM STDIN`` (psycopg 3's ``cursor.copy``), which skips a statement per row
and is what PostgreSQL's documentation recommends for loading many rows. Both write inside the caller's
transaction, so a load that fails or is killed leaves nothing behind. A build into empty PostgreSQL
tables makes their keys after its rows (``deferred_keys``).
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hashsearch.store.schema import (
    StoredDocument,
    documents_table,
    lookup_table,
    make_snippet,
    metadata_json,
    snippets_table,
)

INSERT_CHUNK = 2000  # rows per executemany on SQLite
KEY_SORT_MEMORY = "256MB"  # PostgreSQL's maintenance_work_mem while a build makes its keys: the ids sorted in memory
_TABLES = (documents_table, lookup_table, snippets_table)
# PostgreSQL's type of each column (schema's), which a binary COPY sends values as.
_PG_TYPES = {"id": "text", "code": "bytea", "words": "bytea", "content_hash": "varchar", "added_at": "float8",
             "snippet": "text", "text": "text", "metadata": "text"}
_COLUMNS = {
    documents_table: ("id", "code", "content_hash", "added_at", "snippet", "text", "metadata"),
    lookup_table: ("id", "code", "words", "metadata"),
    snippets_table: ("id", "snippet"),
}


def insert_documents(conn: Connection, documents: Iterable[StoredDocument]) -> int:
    """Write ``documents`` (none of whose ids may be stored already) in ``conn``'s transaction;
    returns how many."""
    if conn.dialect.name == "postgresql":
        return _copy(conn, documents)
    written = 0
    batch: list[dict[str, Any]] = []
    now = time.time()
    for document in documents:
        batch.append(document.as_row(now))
        if len(batch) >= INSERT_CHUNK:
            written += _execute_many(conn, batch)
    if batch:
        written += _execute_many(conn, batch)
    return written


def _execute_many(conn: Connection, batch: list[dict[str, Any]]) -> int:
    for table in _TABLES:
        conn.execute(sa.insert(table), [{name: row[name] for name in _COLUMNS[table]} for row in batch])
    written = len(batch)
    batch.clear()
    return written


def _copy(conn: Connection, documents: Iterable[StoredDocument]) -> int:
    """COPY each table's rows in PostgreSQL's binary format (no text escaping of the texts, no hex of the
    codes and word counts: 15% more rows a second than the text format here). The three streams are
    written one after the other (a COPY holds the connection): the first makes each row as it sends it,
    so that the server stores the batch's first rows while the later ones are made (10% more rows a
    second than making them all first, benchmarks/pg_storing.py), and keeps the other two tables' rows
    (tuples in ``_COLUMNS`` order, the snippet and metadata made once). Call with a batch, not a whole
    corpus."""
    now = time.time()
    later: dict[sa.Table, list[tuple[Any, ...]]] = {lookup_table: [], snippets_table: []}
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # psycopg's own connection
    with _copying(cursor, documents_table) as copy:
        for document in documents:
            snippet, metadata = make_snippet(document.text), metadata_json(document.metadata)
            copy.write_row((document.id, document.code, document.content_hash, now, snippet, document.text,
                            metadata))
            later[lookup_table].append((document.id, document.code, document.words, metadata))
            later[snippets_table].append((document.id, snippet))
    for table, rows in later.items():
        with _copying(cursor, table) as copy:
            for row in rows:
                copy.write_row(row)
    return len(later[snippets_table])


@contextmanager
def _copying(cursor: Any, table: sa.Table) -> Iterator[Any]:
    """A binary COPY into ``table``'s ``_COLUMNS``, their types set (psycopg's ``Copy``)."""
    columns = _COLUMNS[table]
    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types([_PG_TYPES[name] for name in columns])
        yield copy


@contextmanager
def deferred_keys(conn: Connection) -> Iterator[bool]:
    """Around the rows a build writes in ``conn``'s transaction: on PostgreSQL, when the document tables
    hold no rows yet (a new index), their primary keys and indexes are dropped first and made again at
    the end, one sort each instead of a B-tree insert a row (PostgreSQL's advice for loading a table;
    the rows a second in benchmarks/RESULTS.md, pg-storing). Yields whether it did. Tables with rows keep
    their keys: dropping one locks the table against readers until the commit, and readers of an index
    being rebuilt keep reading the old one meanwhile. A transaction that fails gets its keys back as it
    rolls back; ids are unique (a build checks), so making a key again cannot fail."""
    if conn.dialect.name != "postgresql" or any(
            conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() for table in _TABLES):
        yield False
        return
    keys: dict[sa.Table, str] = {}
    for table in _TABLES:
        keys[table] = conn.execute(sa.text("SELECT conname FROM pg_constraint WHERE contype = 'p' AND "
                                           "conrelid = CAST(:name AS regclass)"), {"name": table.name}).scalar_one()
        conn.execute(sa.text(f'ALTER TABLE {table.name} DROP CONSTRAINT "{keys[table]}"'))
        for index in table.indexes:
            conn.execute(sa.schema.DropIndex(index))
    yield True
    conn.execute(sa.text(f"SET LOCAL maintenance_work_mem = '{KEY_SORT_MEMORY}'"))
    for table, name in keys.items():
        columns = ", ".join(column.name for column in table.primary_key.columns)
        conn.execute(sa.text(f'ALTER TABLE {table.name} ADD CONSTRAINT "{name}" PRIMARY KEY ({columns})'))
        for index in table.indexes:
            conn.execute(sa.schema.CreateIndex(index))
