"""Readers, one per kind of source, each yielding ``(where, record)`` pairs in a stream: ``where`` names
the file and line (or item) for error messages, ``record`` is a mapping (a JSON object, a typed CSV row,
a Parquet row, a text file as ``{"id", "text"}``) that ``Fields`` turns into a document.

Kinds: a folder of text and HTML files (with their metadata in a ``metadata.jsonl`` at its top, one
object per file naming it by ``file_name``, the convention of Hugging Face's folder datasets); one such
file; JSON lines (``.jsonl``), a JSON array (``.json``),
CSV with a header (``.csv``), each optionally gzip-compressed (``.gz``); Parquet (``.parquet``, read in
batches, with the ``parquet`` extra: pyarrow); ``-``, JSON lines on stdin. Files are decoded by
``decoding``: byte-order marks dropped, UTF-16 read, legacy encodings guessed and reported.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hashsearch.errors import CorpusError
from hashsearch.progress import progress
from hashsearch.text.decoding import SNIFF_BYTES, decode_bytes, html_text, looks_binary, sniff_encoding
from hashsearch.text.records import Fields

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".rst", ".text")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
RECORD_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
FILE_SUFFIXES = RECORD_SUFFIXES + tuple(f"{s}.gz" for s in RECORD_SUFFIXES[:3]) + TEXT_SUFFIXES + HTML_SUFFIXES
PARQUET_BATCH_ROWS = 4096
METADATA_FILE = "metadata.jsonl"  # in a folder: the fields of its files

Record = tuple[str, Mapping[str, Any]]


@dataclass
class ReadNotes:
    """What a read skipped or had to guess, for the report: files that are empty or binary (by id), and
    files decoded by a guessed legacy encoding (name -> encoding)."""

    skipped_binary: list[str] = field(default_factory=list)
    guessed_encodings: dict[str, str] = field(default_factory=dict)


def records_from_path(path: Path, fields: Fields, notes: ReadNotes, quiet: bool) -> Iterator[Record]:
    """The records of a folder or file (see the module docstring); a CorpusError for a path that is
    missing or of a kind no reader takes."""
    if str(path) == "-":
        return _json_lines(sys.stdin, "<stdin>")
    if not path.exists():
        raise CorpusError(f"{path}: no such file or folder.")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES + HTML_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        return _files(files, path, fields, notes, quiet, _folder_metadata(path, notes))
    name = path.name.lower()
    compressed = name.endswith(".gz")
    suffix = Path(name[:-3]).suffix if compressed else path.suffix.lower()
    readers: dict[str, Callable[[], Iterator[Record]]] = {
        ".jsonl": lambda: _json_lines_file(path, compressed, notes),
        ".json": lambda: _json_array(path, compressed, notes),
        ".csv": lambda: _csv(path, compressed, fields, notes),
    }
    if suffix in readers:
        return readers[suffix]()
    if suffix == ".parquet" and not compressed:
        return _parquet(path)
    if suffix in TEXT_SUFFIXES + HTML_SUFFIXES and not compressed:
        return _files([path], path.parent, fields, notes, quiet)
    raise CorpusError(f"{path}: unsupported file type {name[len(path.stem):] if compressed else suffix or '(none)'!r}. "
                      f"Give a folder or a file ending in one of: {', '.join(FILE_SUFFIXES)}.")


def records_from_dicts(records: Iterable[Mapping[str, Any]]) -> Iterator[Record]:
    for number, record in enumerate(records, start=1):
        yield f"documents, item {number}", record


def _folder_metadata(folder: Path, notes: ReadNotes) -> dict[str, dict[str, Any]]:
    """file name (relative to ``folder``) -> the fields ``folder/metadata.jsonl`` gives that file."""
    sidecar = folder / METADATA_FILE
    if not sidecar.is_file():
        return {}
    found: dict[str, dict[str, Any]] = {}
    for where, record in _json_lines_file(sidecar, False, notes):
        name = record.get("file_name") if isinstance(record, dict) else None
        if not isinstance(name, str) or not name:
            raise CorpusError(f"{where}: each line of {METADATA_FILE} needs a file_name (the file's path "
                              "relative to the folder) beside its fields.")
        found[Path(name).as_posix()] = {key: value for key, value in record.items() if key != "file_name"}
    return found


def _files(files: list[Path], root: Path, fields: Fields, notes: ReadNotes, quiet: bool,
           metadata: Mapping[str, Mapping[str, Any]] | None = None) -> Iterator[Record]:
    """Each text or HTML file as a record: its path under ``root`` the id, its decoded text the text
    (an HTML page's visible text, its title in ``title``), and the fields ``metadata`` gives its id."""
    for path in progress(files, desc="reading", quiet=quiet, unit="file"):
        doc_id = path.relative_to(root).as_posix()
        raw = path.read_bytes()
        if looks_binary(raw):
            notes.skipped_binary.append(doc_id)
            continue
        decoded = decode_bytes(raw)
        if decoded.guessed:
            notes.guessed_encodings[str(path)] = decoded.guessed
        record: dict[str, Any] = {**(metadata or {}).get(doc_id, {}), fields.id: doc_id}
        if path.suffix.lower() in HTML_SUFFIXES:
            title, text = html_text(decoded.text)
            record[fields.text[0]] = text
            if title:
                record["title"] = title
        else:
            record[fields.text[0]] = decoded.text
        yield str(path), record


def _open_text(path: Path, compressed: bool, notes: ReadNotes) -> IO[str]:
    """The file as text, decoded by what its first bytes show (``sniff_encoding``), byte-order mark dropped."""
    opener = gzip.open if compressed else open
    with opener(path, "rb") as probe:
        head = probe.read(SNIFF_BYTES)
    encoding, guessed = sniff_encoding(head)
    if guessed:
        notes.guessed_encodings[str(path)] = encoding
    return io.TextIOWrapper(opener(path, "rb"), encoding=encoding, errors="replace", newline="")  # type: ignore[arg-type]


def _json_lines_file(path: Path, compressed: bool, notes: ReadNotes) -> Iterator[Record]:
    with _open_text(path, compressed, notes) as lines:
        yield from _json_lines(lines, str(path))


def _json_lines(lines: Iterable[str], name: str) -> Iterator[Record]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name}, line {number}"
        try:
            record = json.loads(line.lstrip("\ufeff"))
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{where}: not valid JSON ({exc.msg}). Fix or remove that line.") from None
        yield where, record


def _json_array(path: Path, compressed: bool, notes: ReadNotes) -> Iterator[Record]:
    """A .json file holding one array of objects (read whole: JSON arrays do not stream)."""
    with _open_text(path, compressed, notes) as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}). Fix the file.") from None
    if not isinstance(data, list):
        raise CorpusError(f"{path}: expected a JSON array of objects, found a {type(data).__name__}. "
                          "Give an array ([{\"id\": ..., \"text\": ...}, ...]) or JSON lines (.jsonl).")
    for number, record in enumerate(data, start=1):
        yield f"{path}, item {number}", record


def _csv(path: Path, compressed: bool, fields: Fields, notes: ReadNotes) -> Iterator[Record]:
    csv.field_size_limit(2**31 - 1)
    with _open_text(path, compressed, notes) as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        lacking = (([fields.id] if fields.id not in header else [])
                   + ([" or ".join(fields.text)] if not any(name in header for name in fields.text) else []))
        if lacking:
            raise CorpusError(f"{path}: the header has no {' or '.join(lacking)} column. A .csv corpus needs "
                              f"columns {fields.id} and {' or '.join(fields.text)} (name others with --id-field "
                              f"and --text-field); its header is: {', '.join(header) or '(empty)'}.")
        try:
            for row in reader:
                where = f"{path}, line {reader.line_num}"
                if None in row or any(value is None for value in row.values()):
                    raise CorpusError(f"{where}: expected {len(header)} fields, "
                                      "found a different number. Fix or remove that line.")
                yield where, fields.csv_record(row)
        except csv.Error as exc:
            raise CorpusError(f"{path}, line {reader.line_num}: {exc}. Fix or remove that line.") from None


def _parquet(path: Path) -> Iterator[Record]:
    """A Parquet file's rows, a batch of ``PARQUET_BATCH_ROWS`` at a time (memory bounded by a batch)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise CorpusError(f"{path}: reading Parquet needs pyarrow. Install it with: pip install "
                          "'hashsearch[parquet]'.") from None
    try:
        # Without pre-buffering: pyarrow's pre-buffer cache keeps every row group read until the file is
        # done (600 MB a million rows here, where a batch at a time holds 40 MB).
        parquet = pq.ParquetFile(path, pre_buffer=False)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid and OSError kinds
        raise CorpusError(f"{path}: not a readable Parquet file ({exc}).") from None
    row = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        for record in batch.to_pylist():
            row += 1
            yield f"{path}, row {row}", record
