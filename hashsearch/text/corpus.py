"""Reading documents from a folder, a .jsonl or .csv file, or an iterable of dicts.

Every reader yields the same ``Document`` so that nothing downstream cares where text came from.
Undecodable bytes are replaced (a stray Latin-1 byte should not stop an index) and NUL characters
dropped (PostgreSQL text cannot hold them, and they carry no words); empty documents are
skipped and counted; a broken line stops the read with an error naming the file and line, before
anything is written.
"""
from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hashsearch.errors import CorpusError
from hashsearch.progress import progress

Source = str | Path | Iterable[Mapping[str, Any]]  # a folder or file path, or the records themselves

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".rst", ".text")
FILE_SUFFIXES = (".jsonl", ".csv") + TEXT_SUFFIXES
_BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """Identifies a document's content, so a re-index can tell changed documents from unchanged ones."""
        payload = json.dumps([self.text, self.metadata], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class Corpus:
    """The documents read from one source, plus what was skipped and why."""

    documents: list[Document]
    skipped_empty: list[str] = field(default_factory=list)
    skipped_binary: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.documents)


def read_corpus(source: Source, *, quiet: bool = True) -> Corpus:
    """Read every document from ``source``: a folder, a .jsonl/.csv/.txt/.md file, ``-`` (JSON lines on
    stdin) or an iterable of ``{"id": ..., "text": ...}`` dicts."""
    corpus = Corpus(documents=[])
    if isinstance(source, (str, Path)):
        records = _records_from_path(Path(source), corpus, quiet)
    else:
        records = _records_from_dicts(source, "documents")
    seen: dict[str, str] = {}
    for where, doc in records:
        if doc.id in seen:
            raise CorpusError(f"{where}: duplicate id {doc.id!r} (first seen at {seen[doc.id]}). "
                              "Give every document a unique id.")
        seen[doc.id] = where
        if doc.text.strip():
            corpus.documents.append(doc)
        else:
            corpus.skipped_empty.append(doc.id)
    return corpus


def _records_from_path(path: Path, corpus: Corpus, quiet: bool) -> Iterator[tuple[str, Document]]:
    if str(path) == "-":
        return _records_from_json_lines(sys.stdin, "<stdin>")
    if not path.exists():
        raise CorpusError(f"{path}: no such file or folder.")
    if path.is_dir():
        return _records_from_folder(path, corpus, quiet)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _records_from_jsonl_file(path)
    if suffix == ".csv":
        return _records_from_csv(path)
    if suffix in TEXT_SUFFIXES:
        return _records_from_files([path], path.parent, corpus, quiet)
    raise CorpusError(f"{path}: unsupported file type {suffix or '(none)'!r}. "
                      f"Give a folder or a file ending in one of: {', '.join(FILE_SUFFIXES)}.")


def _records_from_folder(folder: Path, corpus: Corpus, quiet: bool) -> Iterator[tuple[str, Document]]:
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    return _records_from_files(files, folder, corpus, quiet)


def _records_from_files(files: list[Path], root: Path, corpus: Corpus,
                        quiet: bool) -> Iterator[tuple[str, Document]]:
    for path in progress(files, desc="reading", quiet=quiet, unit="file"):
        doc_id = path.relative_to(root).as_posix()
        raw = path.read_bytes()
        if b"\x00" in raw[:_BINARY_SNIFF_BYTES]:
            corpus.skipped_binary.append(doc_id)
            continue
        yield str(path), Document(doc_id, raw.decode("utf-8", errors="replace").replace("\x00", ""))


def _records_from_jsonl_file(path: Path) -> Iterator[tuple[str, Document]]:
    with path.open("r", encoding="utf-8", errors="replace", newline="") as lines:
        yield from _records_from_json_lines(lines, str(path))


def _records_from_json_lines(lines: Iterable[str], name: str) -> Iterator[tuple[str, Document]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name}, line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{where}: not valid JSON ({exc.msg}). Fix or remove that line.") from None
        yield where, _document_from_record(record, where)


def _records_from_csv(path: Path) -> Iterator[tuple[str, Document]]:
    csv.field_size_limit(2**31 - 1)
    with path.open("r", encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"id", "text"} - set(reader.fieldnames or [])
        if missing:
            raise CorpusError(f"{path}: the header has no {' or '.join(sorted(missing))} column. "
                              "A .csv corpus needs columns named id and text.")
        try:
            for row in reader:
                where = f"{path}, line {reader.line_num}"
                if None in row or any(value is None for value in row.values()):
                    raise CorpusError(f"{where}: expected {len(reader.fieldnames or ())} fields, "
                                      "found a different number. Fix or remove that line.")
                yield where, _document_from_record(row, where)
        except csv.Error as exc:
            raise CorpusError(f"{path}, line {reader.line_num}: {exc}. Fix or remove that line.") from None


def _records_from_dicts(records: Iterable[Mapping[str, Any]], name: str) -> Iterator[tuple[str, Document]]:
    for number, record in enumerate(records, start=1):
        where = f"{name}, item {number}"
        yield where, _document_from_record(record, where)


def _document_from_record(record: Any, where: str) -> Document:
    if not isinstance(record, Mapping):
        raise CorpusError(f"{where}: expected an object with id and text, got {type(record).__name__}.")
    for key in ("id", "text"):
        if key not in record or record[key] is None:
            raise CorpusError(f"{where}: the field {key!r} is missing. Every document needs an id and a text.")
    if not isinstance(record["text"], str):
        raise CorpusError(f"{where}: the field 'text' must be a string, got {type(record['text']).__name__}.")
    doc_id = str(record["id"])
    if not doc_id:
        raise CorpusError(f"{where}: the id is empty. Every document needs a non-empty id.")
    metadata = {key: value for key, value in record.items() if key not in ("id", "text")}
    return Document(doc_id, record["text"].replace("\x00", ""), metadata)
