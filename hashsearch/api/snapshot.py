"""What searches read: one immutable view of an index (vocabulary and model, and its documents in segments).

Reading every document into one main segment costs seconds at a million documents (most of it
sorting 85 million word postings), too much to repeat after each small write or on every opening.
So the main segment is saved in the database as it was read (``Segment.to_bytes``, with the last
change it holds), and opening an index loads it and replays the changes logged since. After a
write (this process's, or another's seen by a refresh) the searcher reads the ids it touched from
the database's change log, marks the main segment's rows of those ids as gone, and rebuilds only a
recent segment of the documents written since the main one was read, with the main segment's word
statistics (Lucene's segments and deletions, on a small scale). Searches rank both segments and
merge. Once the recent segment and the gone rows together pass ``MERGE_SHARE`` of the index (or
``MERGE_MIN`` documents, or ``STATISTICS_SHARE`` of a small index), everything is read again into one
main segment: at once when one write passes it by itself, else (``wants_merge``) in the background,
so that a small write never waits for the seconds a merge takes (``Searcher``).

A segment's answers are exact (Hamming top k, filters) whatever the split. Word scores use the main
segment's statistics until the merge (idf counts gone rows, and the recent documents' lengths are
measured against the main segment's mean), as in any segmented index; the threshold bounds how far
those drift from the statistics of the documents held now: by at most ``STATISTICS_SHARE`` of the
index's documents changed, and on an index of more than ``MERGE_MIN / STATISTICS_SHARE`` documents by
``MERGE_SHARE`` of them (at least ``MERGE_MIN``). After a merge, every score is what a fresh build over
the same documents gives.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import sqlalchemy as sa

from hashsearch.index.assembly import assemble_segment
from hashsearch.index.parts import Part
from hashsearch.index.segment import Segment
from hashsearch.index.sketch import Sketcher
from hashsearch.model.hasher import SemanticHasher
from hashsearch.store.storage import Storage
from hashsearch.text.features import TextFeatures

logger = logging.getLogger(__name__)
MERGE_SHARE = 0.01
MERGE_MIN = 1000
# A small index merges once this share of it changed: its word statistics (document count, mean length,
# document frequencies) then never drift far from a fresh build's, and reading it again is cheap.
STATISTICS_SHARE = 0.05


@dataclass(frozen=True)
class Snapshot:
    features: TextFeatures
    hasher: SemanticHasher
    sketcher: Sketcher  # of ``features``
    main: Segment
    recent: Segment | None  # documents written since ``main`` was read
    live: np.ndarray | None  # main's rows not removed or replaced since (a mask; None: all of them)
    gone: int  # main's rows not live
    generation: str | None  # the database's when last brought up to date: any later write changes it
    change_seq: int  # the last logged change this snapshot holds

    @classmethod
    def load(cls, storage: Storage, features: TextFeatures, hasher: SemanticHasher) -> Snapshot:
        """A snapshot of everything stored, with the given vocabulary and model: the saved main segment
        brought up to date from the change log when the log reaches back to it, else everything read."""
        generation = storage.read_generation()  # first: a write after it shows as a change later
        saved_seq = storage.read_saved_segment_seq()
        changes = None if saved_seq is None else storage.read_changes(saved_seq)
        data = None if changes is None or saved_seq is None else storage.read_saved_segment(saved_seq)
        main = None if data is None else Segment.from_bytes(data, hasher.bits)  # only a segment of use
        if main is not None and changes is not None and saved_seq is not None:
            snapshot = cls(features, hasher, Sketcher(features), main, None, None, 0, None, saved_seq)
            return snapshot.after_changes(storage, *changes, generation)
        # A segment the log still reaches but saved in another format (or for other codes) is replaced.
        return cls.read(storage, features, hasher, save=changes is not None)

    @classmethod
    def read(cls, storage: Storage, features: TextFeatures, hasher: SemanticHasher, *,
             save: bool = False) -> Snapshot:
        """A snapshot of every stored document read into one main segment, which is saved for the next
        opening unless a newer one is (or always, with ``save``)."""
        # Read first: a write in between shows as a change later, and replaying a change is harmless.
        generation, change_seq = storage.read_generation(), storage.read_change_seq()
        sketcher = Sketcher(features)
        with storage.lookup_scans() as scan:  # in batches, twice: memory bounded by what the segment holds
            main = assemble_segment(scan, hasher.bits, sketcher)
        if save or (storage.read_saved_segment_seq() or -1) < change_seq:
            try:
                storage.write_saved_segment(change_seq, main.to_bytes())
            except sa.exc.DBAPIError as exc:  # a database this process may only read: open slowly next time too
                logger.warning("could not save the index's main segment for faster opening: %s", exc)
        return cls(features, hasher, sketcher, main, None, None, 0, generation, change_seq)

    def after_changes(self, storage: Storage, change_seq: int, touched: Sequence[str],
                      generation: str | None) -> Snapshot:
        """The snapshot after the logged changes up to ``change_seq``, which touched these ids (each now
        stored or deleted), the database being at ``generation``."""
        if not touched:
            return replace(self, generation=generation, change_seq=change_seq)
        if len(touched) > self._merge_threshold:
            return Snapshot.read(storage, self.features, self.hasher)
        touched_set = set(touched)
        kept = [] if self.recent is None else [i for i in self.recent.ids.tolist() if i not in touched_set]
        live = np.ones(len(self.main), dtype=bool) if self.live is None else self.live.copy()
        live[[row for row in map(self.main.row_of, touched) if row is not None]] = False
        stored = storage.read_lookup(kept + list(touched))  # the touched ids still stored were written
        recent = (Segment.build(stored, self.hasher.bits, self.sketcher, reference=self.main) if stored.ids
                  else None)
        gone = len(self.main) - int(live.sum())
        return replace(self, recent=recent, live=live if gone else None, gone=gone, generation=generation,
                       change_seq=change_seq)

    @property
    def _merge_threshold(self) -> float:
        return max(min(MERGE_MIN, STATISTICS_SHARE * len(self.main)), MERGE_SHARE * len(self.main))

    @property
    def wants_merge(self) -> bool:
        """Whether the recent segment and the gone rows have grown past the merge threshold."""
        return (len(self.recent) if self.recent is not None else 0) + self.gone > self._merge_threshold

    def __len__(self) -> int:
        return len(self.main) - self.gone + (len(self.recent) if self.recent is not None else 0)

    @property
    def fields(self) -> list[str]:
        """The metadata fields that filters can use."""
        names = set(self.main.columns.fields) | set(self.recent.columns.fields if self.recent else ())
        return sorted(names)

    def holds_any(self, hashes: np.ndarray) -> bool:
        """Whether any document indexed in this snapshot's segments holds one of these word hashes."""
        return any(segment.words.locate(hashes)[1].any() for segment in (self.main, self.recent)
                   if segment is not None)

    def parts(self, where: Mapping[str, Any] | None = None) -> list[Part]:
        """The segments as a search sees them: gone rows, and rows ``where`` does not match, left out."""
        parts, fields = [], None if where is None else self.fields
        for segment, live, gone in ((self.main, self.live, self.gone), (self.recent, None, 0)):
            if segment is None:
                continue
            if where is None:
                parts.append(Part(segment, live, gone))
                continue
            allowed = segment.columns.mask(where, fields)
            if live is not None:
                allowed &= live
            parts.append(Part(segment, allowed, len(segment) - np.count_nonzero(allowed)))
        return parts

    def facet_counts(self, field: str, where: Mapping[str, Any] | None = None,
                     ids: Sequence[str] | None = None) -> dict[Any, int]:
        """How many documents hold each value of ``field``: among those ``where`` matches, and (``ids``)
        only those documents; summed over the segments, gone rows left out."""
        totals: dict[Any, int] = {}
        chosen = None
        if ids is not None:
            chosen = {id(segment): np.zeros(len(segment), dtype=bool) for segment in (self.main, self.recent)
                      if segment is not None}
            for doc_id in ids:
                found = self.find(doc_id)
                if found is not None:
                    chosen[id(found[0])][found[1]] = True
        for part in self.parts(where):
            rows = part.allowed
            if chosen is not None:
                rows = chosen[id(part.segment)] if rows is None else rows & chosen[id(part.segment)]
            for value, count in part.segment.columns.value_counts(field, rows).items():
                totals[value] = totals.get(value, 0) + count
        return totals

    def search_paths(self) -> dict[str, int]:
        """The code indexes' path counters (``probing.PathStats``) summed over the segments, with ``scans``."""
        segments = [self.main] + ([self.recent] if self.recent is not None else [])
        totals: dict[str, int] = {}
        for segment in segments:
            for name, count in segment.index.stats.as_dict().items():
                totals[name] = totals.get(name, 0) + count
        totals["scans"] = totals["numpy_scan"] + totals["bucket_scan"] + totals["faiss_scan"]
        return totals

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
