"""A segment: a set of documents searched together (their ids, code index, word index, metadata columns).

Rows are numbered in one fixed order, ascending 64-bit BLAKE2b hash of the document id: results tied
at one score or distance come in row order, which then depends neither on insertion order nor on
content, and is the same on every run and after every reopen. Results from several segments merge
on the same hash, so the order holds across them. The sorted hashes also find a row by id.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .filters import MetadataColumns
from .index import CodeIndex
from .storage import LookupRows
from .words import WordIndex


def id_keys(ids: Sequence[str]) -> np.ndarray:
    """The 64-bit BLAKE2b hash of each id, read as a big-endian integer."""
    digests = b"".join([hashlib.blake2b(i.encode("utf-8"), digest_size=8).digest() for i in ids])
    return np.frombuffer(digests, dtype=">u8").astype(np.uint64)


def tiebreak_order(ids: Sequence[str], keys: np.ndarray | None = None) -> np.ndarray:
    """Row order for documents: by the hash of the id (``keys``, computed when not given; two ids with
    one hash: by id too)."""
    keys = id_keys(ids) if keys is None else keys
    order = np.argsort(keys, kind="stable")
    if np.any(keys[order][1:] == keys[order][:-1]):
        order = np.lexsort((np.asarray(ids, dtype=object).astype(str), keys))
    return order


@dataclass(frozen=True)
class Segment:
    ids: np.ndarray  # object array; position = row in every structure below
    keys: np.ndarray  # id_keys(ids), ascending
    index: CodeIndex
    words: WordIndex
    columns: MetadataColumns

    @classmethod
    def build(cls, stored: LookupRows, bits: int, *, reference: Segment | None = None) -> Segment:
        """A segment over stored rows (in any order). With a ``reference`` (the segment these documents
        join), word scores use both segments' statistics, so that the two segments' scores compare."""
        ids, codes = stored.ids, stored.codes.reshape(len(stored.ids), bits // 8)
        keys = id_keys(ids)
        order = tiebreak_order(ids, keys)
        row_of_stored = np.empty(len(ids), dtype=np.int64)
        row_of_stored[order] = np.arange(len(ids))
        # One JSON array for all the metadata objects: a single parse, not a call per document.
        metadata = json.loads("[" + ",".join(stored.metadata) + "]")
        return cls(np.asarray(ids, dtype=object)[order], keys[order], CodeIndex(codes[order], bits),
                   WordIndex(stored.words, row_of_stored, reference=None if reference is None else reference.words),
                   MetadataColumns([metadata[i] for i in order.tolist()]))

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self, doc_id: str) -> int | None:
        """The row of ``doc_id``, or None when the segment does not hold it."""
        key = id_keys([doc_id])[0]
        row = int(self.keys.searchsorted(key))
        while row < len(self.keys) and self.keys[row] == key:
            if self.ids[row] == doc_id:
                return row
            row += 1
        return None
