"""What searches read: one immutable view of an index (vocabulary and model, and its documents in segments).

Opening an index reads every document into one main segment; that costs seconds at a million
documents, too much to repeat after each small write. A write through the searcher instead commits,
then marks the main segment's rows of the documents it removed or replaced as gone, and rebuilds only
a recent segment of the documents written since the main one was read, with the main segment's word
statistics (Lucene's segments and deletions, on a small scale). Searches rank both segments and merge.
Once the recent segment and the gone rows together pass ``MERGE_SHARE`` of the index (or
``MERGE_MIN`` documents), the next write reads everything again into one main segment.

A segment's answers are exact (Hamming top k, filters) whatever the split; word scores differ
slightly from those of one merged segment (idf counts gone rows until the merge, and the recent
documents' lengths are measured against the main segment's mean), as in any segmented index.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .features import TextFeatures
from .model import SemanticHasher
from .ranking import Part
from .segment import Segment
from .storage import Storage

MERGE_SHARE = 0.01
MERGE_MIN = 1000


@dataclass(frozen=True)
class Snapshot:
    features: TextFeatures
    hasher: SemanticHasher
    main: Segment
    recent: Segment | None  # documents written through this searcher since ``main`` was read
    live: np.ndarray | None  # main's rows not removed or replaced since (a mask; None: all of them)
    gone: int  # main's rows not live
    generation: str | None  # the database's at load: a later write by anyone else changes it

    @classmethod
    def load(cls, storage: Storage, features: TextFeatures, hasher: SemanticHasher) -> Snapshot:
        """A snapshot of everything stored, with the given vocabulary and model."""
        generation = storage.read_generation()  # read first: a write in between shows as a change later
        return cls(features, hasher, Segment.build(storage.read_lookup(), hasher.bits), None, None, 0, generation)

    def after_write(self, storage: Storage, written: Sequence[str], removed: Sequence[str],
                    generation: str) -> Snapshot:
        """The snapshot after a write of this searcher's that stored ``written`` and deleted ``removed``
        (ids), committed as ``generation``, with no other write since this snapshot's."""
        touched = set(written) | set(removed)
        if not touched:
            return replace(self, generation=generation)
        live = np.ones(len(self.main), dtype=bool) if self.live is None else self.live.copy()
        gone = [row for row in map(self.main.row_of, touched) if row is not None]
        live[gone] = False
        kept = [] if self.recent is None else [i for i in self.recent.ids.tolist() if i not in touched]
        recent_ids = kept + list(dict.fromkeys(written))
        gone_count = len(self.main) - int(live.sum())
        if len(recent_ids) + gone_count > max(MERGE_MIN, MERGE_SHARE * len(self.main)):
            return Snapshot.load(storage, self.features, self.hasher)
        recent = (Segment.build(storage.read_lookup(recent_ids), self.hasher.bits, reference=self.main)
                  if recent_ids else None)
        return replace(self, recent=recent, live=live if gone_count else None, gone=gone_count, generation=generation)

    def __len__(self) -> int:
        return len(self.main) - self.gone + (len(self.recent) if self.recent is not None else 0)

    @property
    def fields(self) -> list[str]:
        """The metadata fields that filters can use."""
        names = set(self.main.columns.fields) | set(self.recent.columns.fields if self.recent else ())
        return sorted(names)

    def parts(self, where: Mapping[str, Any] | None = None) -> list[Part]:
        """The segments as a search sees them: gone rows, and rows ``where`` does not match, left out."""
        parts = []
        for segment, live, gone in ((self.main, self.live, self.gone), (self.recent, None, 0)):
            if segment is None:
                continue
            if where is None:
                parts.append(Part(segment, live, gone))
                continue
            allowed = segment.columns.mask(where, self.fields)
            if live is not None:
                allowed &= live
            parts.append(Part(segment, allowed, len(segment) - int(allowed.sum())))
        return parts

    def find(self, doc_id: str) -> tuple[Segment, int] | None:
        """The segment and row that hold ``doc_id`` now, or None."""
        if self.recent is not None and (row := self.recent.row_of(doc_id)) is not None:
            return self.recent, row
        row = self.main.row_of(doc_id)
        if row is None or (self.live is not None and not self.live[row]):
            return None
        return self.main, row

    def codes(self) -> np.ndarray:
        """Every document's packed code, for statistics."""
        main = self.main.index.codes if self.live is None else self.main.index.codes[self.live]
        return main if self.recent is None else np.concatenate([main, self.recent.index.codes])
