"""Documents, and reading a whole source into a ``Corpus``.

Every reader (``sources``) yields records that ``Fields`` (``records``) turns into the same ``Document``,
so that nothing downstream cares where text came from. NUL characters are dropped (PostgreSQL text
cannot hold them, and they carry no words); empty documents are skipped and counted; a broken line or a
duplicate id stops the read with an error naming the file and line, before anything is written.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hashsearch.errors import CorpusError
from hashsearch.text.records import Fields
from hashsearch.text.sources import ReadNotes, records_from_dicts, records_from_path

Source = str | Path | Iterable[Mapping[str, Any]]  # a folder or file path, or the records themselves


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
    guessed_encodings: dict[str, str] = field(default_factory=dict)  # file -> the legacy encoding read

    def __len__(self) -> int:
        return len(self.documents)


def read_corpus(source: Source, *, fields: Fields | None = None, quiet: bool = True) -> Corpus:
    """Read every document from ``source``: a folder, a file (see ``sources``), ``-`` (JSON lines on
    stdin) or an iterable of dicts; ``fields`` says which fields are the id, text and title."""
    fields = fields or Fields()
    notes = ReadNotes()
    corpus = Corpus(documents=[])
    seen: dict[str, str] = {}
    for where, doc in documents_from(source, fields, notes, quiet):
        if doc.id in seen:
            raise CorpusError(f"{where}: duplicate id {doc.id!r} (first seen at {seen[doc.id]}). "
                              "Give every document a unique id.")
        seen[doc.id] = where
        if doc.text.strip():
            corpus.documents.append(doc)
        else:
            corpus.skipped_empty.append(doc.id)
    corpus.skipped_binary, corpus.guessed_encodings = notes.skipped_binary, notes.guessed_encodings
    return corpus


def documents_from(source: Source, fields: Fields, notes: ReadNotes, quiet: bool) -> Iterator[tuple[str, Document]]:
    """``(where, Document)`` for each record of ``source``, in a stream (nothing is held but the current
    batch of a file that is read in batches)."""
    if isinstance(source, (str, Path)):
        records = records_from_path(Path(source), fields, notes, quiet)
    else:
        records = records_from_dicts(source)
    for where, record in records:
        yield where, Document(*fields.document_parts(record, where))
