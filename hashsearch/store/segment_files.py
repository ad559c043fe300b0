"""Saved main segments kept as files on this machine too, read back by memory map.

Opening an index reads its saved main segment (``Storage.write_saved_segment``), about 120 bytes a
document. From PostgreSQL that is a GB of TOAST pieces at ten million documents, read by the server a
2 kB chunk at a time and copied into this process: seconds, and more when other reads have pushed
them out of the server's page cache. So the first opening on a machine also writes what it read to a
file here (in the background), and later openings map that file instead: the kernel reads it
sequentially and only as the arrays are touched, and processes on one machine that open the same
index share its pages.

A file holds one save, named by the random token the database's segment header gives that save and
by the database it came from: a save is never changed, only replaced by a newer one with a new token,
so a file whose name and size match is that save (``packing`` rejects one damaged in its structure).
The directory is ``HASHSEARCH_SEGMENT_CACHE`` (``off``: none), by default ``hashsearch/segments`` under
the user's cache directory (``XDG_CACHE_HOME``, else ``~/.cache``). It is only a copy: a file that
cannot be written or read is skipped (the database is read instead), one not read for ``UNUSED_DAYS``
is deleted when another is written, and deleting the directory is always safe.
"""
from __future__ import annotations

import hashlib
import logging
import mmap
import os
import tempfile
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)
ENVIRONMENT = "HASHSEARCH_SEGMENT_CACHE"
_SUFFIX, _PARTIAL = ".segment", ".partial"
_ABANDONED_SECONDS = 3600  # a file still being written after this long was left by a process that died
UNUSED_DAYS = 30  # a file no opening has read for this long is deleted when another is written


def default_directory() -> Path | None:
    """Where saved segments are kept on this machine (``ENVIRONMENT``, else the user's cache
    directory), or None when the variable says ``off``."""
    chosen = os.environ.get(ENVIRONMENT, "")
    if chosen.lower() == "off":
        return None
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hashsearch" / "segments"


class SegmentFiles:
    """The files in ``directory`` of one database's saved segments; ``database``: what names that
    database (a SQLite file's resolved path, a URL without its password), hashed into file names."""

    def __init__(self, directory: Path, database: str) -> None:
        self.directory = directory
        self._prefix = hashlib.blake2b(database.encode("utf-8"), digest_size=8).hexdigest() + "-"
        self._lock, self._write_lock = threading.Lock(), threading.Lock()
        self._writers: list[threading.Thread] = []

    def _path(self, token: str) -> Path:
        return self.directory / f"{self._prefix}{token}{_SUFFIX}"

    def read(self, token: str, size: int) -> memoryview | None:
        """The save ``token`` (``size`` bytes) as a read-only view of its mapped file, or None when this
        machine has no such file (or not of that size)."""
        try:
            with open(self._path(token), "rb") as file:
                if os.fstat(file.fileno()).st_size != size or size == 0:
                    return None
                mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
            os.utime(self._path(token))  # used now: kept past ``UNUSED_DAYS`` from today
        except (OSError, ValueError):
            return None
        if hasattr(mapped, "madvise"):  # start reading it all now: searches touch every part of it
            mapped.madvise(mmap.MADV_WILLNEED)
        return memoryview(mapped)

    def keep(self, token: str, data: bytes | memoryview) -> None:
        """Keep the save ``token`` as a file, written by a thread of its own (a GB takes this machine's
        disk seconds the first time, which an opening need not wait for; ``wait`` does, and so does the
        interpreter before it exits)."""
        writer = threading.Thread(target=self._write, args=(token, data), name="hashsearch-segment-file")
        with self._lock:
            self._writers = [thread for thread in self._writers if thread.is_alive()] + [writer]
        writer.start()

    def wait(self) -> None:
        """Return once every file this object was asked to keep is written (or given up)."""
        with self._lock:
            writers = list(self._writers)
        for writer in writers:
            writer.join()

    def _write(self, token: str, data: bytes | memoryview) -> None:
        """Write the save ``token`` whole under another name, flushed to disk, then renamed into place,
        and delete this database's older ones; a file that cannot be written is logged and skipped."""
        temporary = None
        with self._write_lock:  # one at a time: a later save's file is never followed by an earlier one's
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                descriptor, temporary = tempfile.mkstemp(prefix=self._prefix, suffix=_PARTIAL, dir=self.directory)
                with open(descriptor, "wb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, self._path(token))
            except OSError as exc:
                logger.warning("could not keep the index's main segment in %s for faster opening (%s); set %s "
                               "to a folder this process may write, or to off", self.directory, exc, ENVIRONMENT)
                if temporary is not None:
                    Path(temporary).unlink(missing_ok=True)
                return
            self._prune(self._path(token).name)

    def _prune(self, kept: str) -> None:
        """Delete this database's files but ``kept``, and any database's left unused for ``UNUSED_DAYS``
        (an index deleted, or no longer opened here) or abandoned while written."""
        now = time.time()
        for path in self.directory.iterdir():
            try:  # a process that still maps one keeps reading it (on POSIX); another's write in progress stays
                age = now - path.stat().st_mtime
                if path.suffix == _SUFFIX and (path.name.startswith(self._prefix) and path.name != kept
                                               or age > UNUSED_DAYS * 86400) or (
                        path.suffix == _PARTIAL and age > _ABANDONED_SECONDS):
                    path.unlink()
            except OSError:
                pass
