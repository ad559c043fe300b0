"""Everything an index is, in one database: documents, their codes, the vocabulary and the model.

SQLAlchemy Core keeps one schema (``schema``) for SQLite (a path) and PostgreSQL (a URL). Every change
is one transaction, so a crash or a bad document leaves the previous index whole; SQLite runs in WAL
mode so readers keep answering from the last committed state while a writer works. The changes table
logs the ids each write touched, so that another process's searcher can catch up on them without
reading the whole index (``read_changes``). What reading an index anew built is saved among the
artifacts (``write_saved_segment``), for opening without reading anew.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hashsearch.errors import IndexFormatError, IndexNotFoundError
from hashsearch.index.rows import LookupRows
from hashsearch.store.byid import ByIdReader
from hashsearch.store.connecting import create_engine, database_url, display_name, segment_files, sqlite_path
from hashsearch.store.failures import reason_of
from hashsearch.store.loading import deferred_keys, insert_documents
from hashsearch.store.scanning import lookup_scans, read_pieces
from hashsearch.store.schema import (
    DERIVED_TABLES,
    FORMAT_VERSION,
    StoredDocument,
    artifacts_table,
    changes_table,
    documents_table,
    lookup_table,
    meta_table,
    metadata,
    snippets_table,
)
from hashsearch.store.segment_files import SegmentFiles

_INSERT_CHUNK = 2000
# The changes table keeps the ids of about this many recent changes; a write of more resets it, and a
# searcher further behind than what it keeps reads the whole index instead.
CHANGE_LOG_ROWS = 10_000
# The saved main segment (the artifacts "segment" and "segment.<change>.<n>") is stored in pieces of
# at most this size: PostgreSQL and its drivers handle large values badly.
SEGMENT_CHUNK_BYTES = 32 << 20


class Storage:
    """Reads and writes one index database. Create with ``Storage.create`` or ``Storage.open``."""

    def __init__(self, engine: Engine, display_name: str, segment_files: SegmentFiles | None = None) -> None:
        """``segment_files``: where this machine keeps copies of the saved segment (None: nowhere)."""
        self._engine = engine
        self.display_name = display_name
        self._by_id = ByIdReader(engine)
        self._segment_files = segment_files

    @classmethod
    def create(cls, db: str | Path) -> Storage:
        """Connect to ``db``, creating the database file and tables if needed (existing data is kept)."""
        url = database_url(db)
        storage = cls(create_engine(url), display_name(db), segment_files(url))
        try:
            metadata.create_all(storage._engine)
            storage._set_column_storage()
        except sa.exc.DatabaseError as exc:
            storage.close()
            raise IndexNotFoundError(f"{db} is not a database hashsearch can use ({reason_of(exc)}).") from None
        if storage._check_format(allow_empty=True) < FORMAT_VERSION:
            storage._upgrade()  # a build over an older index writes the current tables
        return storage

    def _set_column_storage(self) -> None:
        """On PostgreSQL, how large values are kept, set once a database (an ALTER locks its table):
        artifacts (the saved segment's pieces: dense numbers) uncompressed, so that writing skips a
        compression attempt and reading a GB of them at an opening skips decompressing; documents' texts
        compressed with LZ4 where the server has it (PostgreSQL 14 on, built with it), which compresses
        and decompresses several times faster than the default, pglz, for a little more disk."""
        if self._engine.dialect.name != "postgresql":
            return
        with self._engine.begin() as conn:
            storage = conn.execute(sa.text("SELECT attstorage FROM pg_attribute WHERE attname = 'data' AND "
                                           f"attrelid = '{artifacts_table.name}'::regclass")).scalar()
            if storage != "e":
                conn.execute(sa.text(f"ALTER TABLE {artifacts_table.name} ALTER COLUMN data SET STORAGE EXTERNAL"))
            has_lz4 = conn.execute(sa.text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                                           "WHERE name = 'default_toast_compression'")).scalar()
            if has_lz4 and conn.execute(sa.text(
                    "SELECT attcompression FROM pg_attribute WHERE attname = 'text' AND "
                    f"attrelid = '{documents_table.name}'::regclass")).scalar() != "l":
                conn.execute(sa.text(f"ALTER TABLE {documents_table.name} ALTER COLUMN text SET COMPRESSION lz4"))

    @classmethod
    def open(cls, db: str | Path) -> Storage:
        """Connect to an existing index; raises a clear error for anything else."""
        url = database_url(db)
        if url.startswith("sqlite:///") and not sqlite_path(url).is_file():
            raise IndexNotFoundError(f"no index at {db}. Run `hashsearch index SOURCE --db {db}` first.")
        storage = cls(create_engine(url), display_name(db), segment_files(url))
        if storage._check_format(allow_empty=False) < FORMAT_VERSION:
            storage._upgrade()
        return storage

    def _check_format(self, *, allow_empty: bool) -> int:
        """The stored format version (FORMAT_VERSION for an empty database); raises for anything unusable."""
        try:
            with self._engine.connect() as conn:
                tables = set(sa.inspect(conn).get_table_names())
                version = None
                if meta_table.name in tables:
                    version = conn.execute(sa.select(meta_table.c.value).where(
                        meta_table.c.key == "format_version")).scalar()
        except sa.exc.DatabaseError as exc:
            self.close()
            raise IndexNotFoundError(f"{self.display_name} is not a hashsearch index ({reason_of(exc)}).") from None
        if version is None:
            if allow_empty and not tables - {t.name for t in metadata.sorted_tables}:
                return FORMAT_VERSION
            self.close()
            if allow_empty:
                raise IndexNotFoundError(f"{self.display_name} holds other data, not a hashsearch index. "
                                         "Give a new file or an empty database.")
            raise IndexNotFoundError(f"{self.display_name} is not a hashsearch index. "
                                     f"Run `hashsearch index SOURCE --db {self.display_name}` to create one.")
        if int(version) > FORMAT_VERSION:
            self.close()
            raise IndexFormatError(f"{self.display_name} was written by a newer hashsearch (format {version}; "
                                   f"this version reads up to {FORMAT_VERSION}). Upgrade hashsearch.")
        return int(version)

    def _upgrade(self) -> None:
        """Any older version to the current one, in one transaction: the lookup and snippets tables made
        anew from the documents, whose unused term vectors (before version 4) are dropped."""
        with self.transaction() as conn:
            if "vector" in {column["name"] for column in sa.inspect(conn).get_columns(documents_table.name)}:
                conn.execute(sa.text(f"ALTER TABLE {documents_table.name} DROP COLUMN vector"))
            for table in DERIVED_TABLES:
                table.drop(conn, checkfirst=True)
                table.create(conn)
            changes_table.create(conn, checkfirst=True)
            self.reset_changes(conn)
            vocabulary = conn.execute(sa.select(artifacts_table.c.data).where(
                artifacts_table.c.name == "vocabulary")).scalar()
            from hashsearch.index.words import encode_words  # an upgrade only: opening stays light
            from hashsearch.text.analysis import analyzer_from_dict

            analyzer = analyzer_from_dict(json.loads(vocabulary).get("analysis") if vocabulary else None)
            rows = conn.execute(sa.select(documents_table.c.id, documents_table.c.code, documents_table.c.snippet,
                                          documents_table.c.text, documents_table.c.metadata))
            while chunk := rows.fetchmany(_INSERT_CHUNK):
                conn.execute(sa.insert(lookup_table), [
                    {"id": doc_id, "code": code, "words": encode_words(analyzer.terms(text)), "metadata": meta}
                    for doc_id, code, _, text, meta in chunk])
                conn.execute(sa.insert(snippets_table), [{"id": row[0], "snippet": row[2]} for row in chunk])
            self.write_meta(conn, {})

    def close(self) -> None:
        """Close the connections, once this machine's copy of a saved segment is written."""
        if self._segment_files is not None:
            self._segment_files.wait()
        self._by_id.close()
        self._engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One atomic write: everything inside commits together or not at all."""
        with self._engine.begin() as conn:
            yield conn

    # -- writes (each takes the connection of an open transaction) ---------------------------------

    @staticmethod
    def write_meta(conn: Connection, values: dict[str, Any]) -> None:
        """Meta values, with a new ``generation``: every write calls this, so readers can tell a change.
        Rows are updated in place (inserted when new), so that ``lock_writes`` keeps its row lock."""
        for key, value in {**values, "format_version": FORMAT_VERSION, "generation": uuid.uuid4().hex}.items():
            updated = conn.execute(sa.update(meta_table).where(meta_table.c.key == key).values(value=json.dumps(value)))
            if not updated.rowcount:
                conn.execute(sa.insert(meta_table).values(key=key, value=json.dumps(value)))

    @staticmethod
    def lock_writes(conn: Connection) -> None:
        """Call first in a write: no other write runs until this transaction ends (a no-op update takes
        SQLite's one write lock, or PostgreSQL's lock on the generation row), so changes are logged in
        the order they commit."""
        conn.execute(sa.update(meta_table).where(meta_table.c.key == "generation").values(value=meta_table.c.value))

    def log_changes(self, conn: Connection, ids: Sequence[str]) -> None:
        """Record the ids a write stored or deleted; past ``CHANGE_LOG_ROWS``, drop the oldest."""
        if len(ids) > CHANGE_LOG_ROWS:
            self.reset_changes(conn)
            return
        for start in range(0, len(ids), _INSERT_CHUNK):
            conn.execute(sa.insert(changes_table), [{"id": i} for i in ids[start:start + _INSERT_CHUNK]])
        newest = conn.execute(sa.select(sa.func.max(changes_table.c.seq))).scalar() or 0
        if newest % 1000 < len(ids):  # about every thousand changes
            self._cut_changes(conn, newest - CHANGE_LOG_ROWS)

    def reset_changes(self, conn: Connection) -> None:
        """Empty the log, past every change logged so far: each searcher opened before reads everything."""
        conn.execute(sa.insert(changes_table).values(id=""))
        self._cut_changes(conn, conn.execute(sa.select(sa.func.max(changes_table.c.seq))).scalar() or 0)

    def _cut_changes(self, conn: Connection, through: int) -> None:
        """Forget the changes up to ``through``: the log then holds every change after it."""
        if through > self._log_start(conn):
            conn.execute(sa.delete(changes_table).where(changes_table.c.seq <= through))
            self.write_meta(conn, {"log_start": through})

    @staticmethod
    def _log_start(conn: Connection) -> int:
        value = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "log_start")).scalar()
        return 0 if value is None else json.loads(value)

    @staticmethod
    def write_artifact(conn: Connection, name: str, data: bytes) -> None:
        conn.execute(sa.delete(artifacts_table).where(artifacts_table.c.name == name))
        conn.execute(sa.insert(artifacts_table).values(name=name, data=data))

    def write_saved_segment(self, change_seq: int, data: bytes | memoryview) -> None:
        """Replace the saved main segment (``Segment.to_bytes``) with one that holds every change up to
        ``change_seq``; in chunks, each named by that change, so that a reader never joins two saves
        (and each copied out of ``data`` only as it is written: at ten million documents it is GBs).
        The header names the save by a new random token, under which this machine keeps a copy too."""
        view, token = memoryview(data).cast("B"), uuid.uuid4().hex
        with self.transaction() as conn:
            self.lock_writes(conn)
            self._delete_saved_segment(conn)
            for number, start in enumerate(range(0, len(view), SEGMENT_CHUNK_BYTES)):
                chunk = bytes(view[start:start + SEGMENT_CHUNK_BYTES])
                self.write_artifact(conn, f"segment.{change_seq}.{number}", chunk)
            header = {"change_seq": change_seq, "token": token, "size": len(view)}
            self.write_artifact(conn, "segment", json.dumps(header).encode("utf-8"))
        if self._segment_files is not None:
            self._segment_files.keep(token, view)

    @staticmethod
    def _delete_saved_segment(conn: Connection) -> None:
        name = artifacts_table.c.name
        conn.execute(sa.delete(artifacts_table).where((name == "segment") | name.like("segment.%")))

    @contextmanager
    def replacing_documents(self, conn: Connection) -> Iterator[None]:
        """Around a build's writes in ``conn``'s transaction: every document deleted first (the saved
        segment and the change log too); a new index's keys made after its rows (``deferred_keys``)."""
        with deferred_keys(conn):
            for table in (documents_table, *DERIVED_TABLES):
                conn.execute(sa.delete(table))
            self._delete_saved_segment(conn)
            self.reset_changes(conn)
            yield

    @staticmethod
    def delete_documents(conn: Connection, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), _INSERT_CHUNK):
            for table in (documents_table, *DERIVED_TABLES):
                conn.execute(sa.delete(table).where(table.c.id.in_(ids[start:start + _INSERT_CHUNK])))

    @staticmethod
    def insert_documents(conn: Connection, documents: Iterable[StoredDocument]) -> int:
        """Write new documents in ``conn``'s transaction (COPY on PostgreSQL: ``loading``); returns how many."""
        return insert_documents(conn, documents)

    # -- reads --------------------------------------------------------------------------------------

    def read_change_seq(self) -> int:
        """The last change logged (or the log's start): a searcher that reads the index after this has
        every change up to it."""
        with self._engine.connect() as conn:
            newest = conn.execute(sa.select(sa.func.max(changes_table.c.seq))).scalar()
            return max(newest or 0, self._log_start(conn))

    def read_changes(self, after: int) -> tuple[int, list[str]] | None:
        """(last change, ids touched) of the changes logged after ``after``; None when the log no longer
        reaches back that far (the caller reads everything). Rows first, then the log's start: a reset
        in between shows as a start past ``after``."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(changes_table.c.seq, changes_table.c.id)
                                .where(changes_table.c.seq > after).order_by(changes_table.c.seq)).all()
            if self._log_start(conn) > after:
                return None
        return (rows[-1][0] if rows else after), list(dict.fromkeys(doc_id for _, doc_id in rows if doc_id))

    def read_generation(self) -> str | None:
        """The ``generation`` of the last committed write."""
        with self._engine.connect() as conn:
            value = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "generation")).scalar()
        return None if value is None else json.loads(value)

    def count_documents(self) -> int:
        """How many documents the index holds (one count of the lookup table)."""
        with self._engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(lookup_table)).scalar() or 0)

    def read_meta(self) -> dict[str, Any]:
        with self._engine.connect() as conn:
            return {key: json.loads(value) for key, value in conn.execute(sa.select(meta_table))}

    def read_artifact(self, name: str) -> bytes:
        with self._engine.connect() as conn:
            data = conn.execute(sa.select(artifacts_table.c.data).where(artifacts_table.c.name == name)).scalar()
        if data is None:
            raise IndexFormatError(f"{self.display_name} is missing its {name!r}; rebuild it with "
                                   "`hashsearch index SOURCE --retrain`.")
        return bytes(data)

    def _read_saved_segment_header(self) -> dict[str, Any] | None:
        """The saved main segment's header: ``change_seq``, and the save's ``token`` and ``size``."""
        with self._engine.connect() as conn:
            header = conn.execute(sa.select(artifacts_table.c.data).where(artifacts_table.c.name == "segment")).scalar()
        return None if header is None else json.loads(bytes(header))

    def read_saved_segment_seq(self) -> int | None:
        """The last change the saved main segment holds (None: none is saved)."""
        header = self._read_saved_segment_header()
        return None if header is None else header["change_seq"]

    def read_saved_segment(self, change_seq: int) -> memoryview | None:
        """The saved main segment that holds the changes up to ``change_seq``, or None when it has been
        replaced since: this machine's copy (``segment_files``) when it has one, else its pieces read in
        one snapshot into one buffer (``scanning``), then kept on this machine for the next opening."""
        header = self._read_saved_segment_header() or {}
        files, token = self._segment_files, header.get("token")  # a token: saved since saves had one
        if files is None or not token or header["change_seq"] != change_seq:
            return read_pieces(self._engine, artifacts_table.name, f"segment.{change_seq}.")
        if (mapped := files.read(token, header["size"])) is not None:
            return mapped
        data = read_pieces(self._engine, artifacts_table.name, f"segment.{change_seq}.")
        if data is not None and len(data) == header["size"]:
            files.keep(token, data)
        return data

    def read_lookup(self, ids: Sequence[str] | None = None) -> LookupRows:
        """Every document's (or these ids') id, packed code, word counts and metadata, read through the
        driver (opening a large index waits on this)."""
        if ids is not None:
            rows = self._by_id.read(lookup_table, ("code", "words", "metadata"), ids)
        else:
            with self._raw_cursor() as cursor:
                cursor.execute(f"SELECT id, code, words, metadata FROM {lookup_table.name}")
                rows = cursor.fetchall()
        return LookupRows.from_rows(rows)

    def lookup_scans(self) -> AbstractContextManager[Callable[[], Iterator[LookupRows]]]:
        """Passes over every document's lookup row, a batch at a time, all in one read snapshot (``scanning``)."""
        return lookup_scans(self._engine, lookup_table.name)

    def read_content_hashes(self, ids: Sequence[str] | None = None) -> dict[str, str]:
        """id -> content hash of every document (or of these ids, those stored)."""
        if ids is not None:
            return dict(self._by_id.read(documents_table, ("content_hash",), ids))
        with self._engine.connect() as conn:
            return dict(conn.execute(sa.select(documents_table.c.id, documents_table.c.content_hash)).all())

    def read_snippets(self, ids: Sequence[str]) -> dict[str, str]:
        return {doc_id: snippet for doc_id, snippet in self._by_id.read(snippets_table, ("snippet",), ids)}

    def read_documents(self, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """id -> (text, metadata) for the ids stored; one query."""
        return {doc_id: (text, json.loads(meta))
                for doc_id, text, meta in self._by_id.read(documents_table, ("text", "metadata"), ids)}

    def read_recent_texts(self, limit: int) -> list[str]:
        """The texts of the ``limit`` most recently added documents."""
        with self._engine.connect() as conn:
            return list(conn.execute(sa.select(documents_table.c.text)
                                     .order_by(documents_table.c.added_at.desc()).limit(limit)).scalars())

    @contextmanager
    def _raw_cursor(self) -> Iterator[Any]:
        """A DBAPI cursor on a pooled connection, for bulk reads."""
        connection = self._engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
        finally:
            connection.close()  # back to the pool, which rolls back the read transaction
