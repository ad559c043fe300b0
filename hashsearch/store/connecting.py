"""Connecting to an index's database: what a path or URL names, the engine for it, and how messages
and this machine's saved-segment files (``segment_files``) name it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from hashsearch.errors import IndexNotFoundError
from hashsearch.store.segment_files import SegmentFiles, default_directory

# SQLite caps this at its build's limit (2 GiB in common builds): a 1M-document index is 3 GB, and
# with 1 GiB mapped, get() of 10 ids took 0.42 instead of 0.09 ms (pages past the map are read()).
SQLITE_MMAP_BYTES = 1 << 40


def database_url(db: str | Path) -> str:
    """A SQLAlchemy URL for ``db``: a path means a SQLite file; ``postgresql://`` uses psycopg 3."""
    db = str(db)
    if "://" not in db:
        return f"sqlite:///{db}"
    for plain in ("postgresql://", "postgres://"):
        if db.startswith(plain):
            return "postgresql+psycopg://" + db[len(plain):]
    return db


def create_engine(url: str) -> Engine:
    """The engine for ``url`` (``database_url``'s): PostgreSQL's checks its pooled connections before
    use; SQLite's runs in WAL mode with its file memory-mapped."""
    if not url.startswith("sqlite"):
        try:
            return sa.create_engine(url, pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            raise IndexNotFoundError(f"the database driver {exc.name!r} is not installed. For PostgreSQL: "
                                     "pip install 'psycopg[binary]'.") from None
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Pages read through a memory map instead of read() calls: ten random snippet rows of a 100k
        # index in 66 instead of 88 us. Address space only; the OS page cache holds the data either way.
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    return engine


def sqlite_path(url: str) -> Path:
    """The file a sqlite:/// URL names, also in SQLite's URI form (``sqlite:///file:PATH?mode=ro&uri=true``)."""
    path = url[len("sqlite:///"):]
    if "uri=true" in path and path.startswith("file:"):
        path = path[len("file:"):].split("?", 1)[0]
    return Path(path)


def segment_files(url: str) -> SegmentFiles | None:
    """Where this machine keeps copies of the saved segments of the database at ``url`` (None: nowhere),
    named by the SQLite file's resolved path or the URL without its password."""
    directory = default_directory()
    if directory is None:
        return None
    name = str(sqlite_path(url).resolve()) if url.startswith("sqlite:///") else display_name(url)
    return SegmentFiles(directory, name)


def display_name(db: str | Path) -> str:
    """How messages name a database: the path, or the URL without its password."""
    return str(db) if "://" not in str(db) else sa.engine.make_url(str(db)).render_as_string(hide_password=True)
