"""A source read as a stream, twice, so that a build holds a batch of documents at a time and never the
corpus: the first pass counts terms (the vocabulary's statistics), keeps a uniform sample to train on
and checks the ids; the second encodes and stores batch by batch (``writer.build_index``).

A file or folder is simply read again. Records given as a list are iterated again; records given as a
one-shot iterator (a generator) are written to a temporary JSON-lines file during the first pass and
read back from it.
"""
from __future__ import annotations

import json
import random
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO

import numpy as np

from hashsearch.errors import CorpusError
from hashsearch.progress import progress
from hashsearch.text.analysis import Analyzer
from hashsearch.text.corpus import Document, Source, documents_from
from hashsearch.text.counting import TermCounts
from hashsearch.text.records import Fields
from hashsearch.text.sources import ReadNotes

BATCH_DOCUMENTS = 2048  # documents encoded and stored at a time: what a build holds besides its sample


@dataclass
class Scan:
    """What the first pass learned: term statistics, the training sample (every document of a corpus no
    larger than the sample, else a uniform sample fixed by the seed, in reading order), how many
    documents will be indexed, and what was skipped or guessed."""

    counts: TermCounts
    sample: list[Document]
    documents: int
    skipped_empty: list[str] = field(default_factory=list)
    skipped_binary: list[str] = field(default_factory=list)
    guessed_encodings: dict[str, str] = field(default_factory=dict)


class Replay:
    """A source that can be read more than once (see the module docstring); use as a context manager,
    which deletes a temporary copy at the end."""

    def __init__(self, source: Source, fields: Fields) -> None:
        self._source = source
        self._fields = fields
        self._one_shot = str(source) == "-" or not isinstance(source, (str, Path, Sequence))
        self._spool: IO[str] | None = None
        self._reads = 0
        self.notes = ReadNotes()  # of the first read
        self.name = str(source) if isinstance(source, (str, Path)) else "the documents given"

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *_: object) -> None:
        if self._spool is not None:
            self._spool.close()

    def read(self) -> Iterator[tuple[str, Document]]:
        """``(where, Document)`` for every record, in order; each call reads the source anew."""
        if self._spool is not None:
            self._spool.seek(0)
            for line in self._spool:
                where, doc_id, text, metadata = json.loads(line)
                yield where, Document(doc_id, text, metadata)
            return
        notes = self.notes if self._reads == 0 else ReadNotes()
        self._reads += 1
        documents = documents_from(self._source, self._fields, notes, quiet=True)
        if not self._one_shot:
            yield from documents
            return
        self._spool = tempfile.TemporaryFile(  # noqa: SIM115  # closed by __exit__, read again by later calls
            "w+", encoding="utf-8", prefix="hashsearch-build-")
        for where, doc in documents:
            self._spool.write(json.dumps([where, doc.id, doc.text, doc.metadata], ensure_ascii=False,
                                         default=str) + "\n")
            yield where, doc


def scan(replay: Replay, analyzer: Analyzer, *, sample_size: int, seed: int, quiet: bool) -> Scan:
    """The first pass over ``replay`` (see ``Scan``); a CorpusError for a duplicate id or a source with
    nothing to index."""
    counts = TermCounts()
    sample: list[tuple[int, Document]] = []
    chooser = random.Random(seed)
    id_hashes = array("q")
    found = Scan(counts, [], 0)
    for _where, doc in progress(replay.read(), desc="reading", quiet=quiet, unit="doc"):
        id_hashes.append(hash(doc.id))
        if not doc.text.strip():
            found.skipped_empty.append(doc.id)
            continue
        counts.add(analyzer.terms(doc.text))
        # Reservoir sampling (Vitter's algorithm R): each document is in the sample with equal chance.
        if len(sample) < sample_size:
            sample.append((found.documents, doc))
        else:
            slot = chooser.randrange(found.documents + 1)
            if slot < sample_size:
                sample[slot] = (found.documents, doc)
        found.documents += 1
    _check_unique(replay, id_hashes)
    found.sample = [doc for _, doc in sorted(sample, key=lambda pair: pair[0])]
    found.skipped_binary, found.guessed_encodings = replay.notes.skipped_binary, replay.notes.guessed_encodings
    if not found.documents:
        skipped = len(found.skipped_empty) + len(found.skipped_binary)
        raise CorpusError(f"{replay.name}: no documents to index"
                          + (f" ({skipped} empty or binary skipped)" if skipped else "")
                          + ". Give a folder of .txt/.md/.html files, or a .jsonl, .json, .csv or .parquet "
                            "file of records with an id and a text.")
    return found


def _check_unique(replay: Replay, id_hashes: array[int]) -> None:
    """Raise a CorpusError naming the first id read twice. The first pass keeps 8 bytes an id (its
    hash), not the ids; only when two hashes agree is the source read again for the ids themselves."""
    hashes = np.frombuffer(id_hashes, dtype=np.int64) if len(id_hashes) else np.empty(0, dtype=np.int64)
    ordered = np.sort(hashes)
    repeated = set(ordered[1:][ordered[1:] == ordered[:-1]].tolist())
    if not repeated:
        return
    seen: dict[str, str] = {}
    for where, doc in replay.read():
        if hash(doc.id) not in repeated:
            continue
        if doc.id in seen:
            raise CorpusError(f"{where}: duplicate id {doc.id!r} (first seen at {seen[doc.id]}). "
                              "Give every document a unique id.")
        seen[doc.id] = where


def batches(documents: Iterable[Document], size: int | None = None) -> Iterator[list[Document]]:
    """The non-empty documents of ``documents`` in lists of ``size`` (``BATCH_DOCUMENTS``)."""
    size = size or BATCH_DOCUMENTS
    nonempty = (doc for doc in documents if doc.text.strip())
    while batch := list(islice(nonempty, size)):
        yield batch
