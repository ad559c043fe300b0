"""What searches read: one immutable view of an index, built from the database when it opens and
after each write (vocabulary and model, ids, code index, word index, metadata columns).

Rows are numbered in one fixed order, ascending 64-bit BLAKE2b hash of the document id: results tied
at one score or distance come in row order, which then depends neither on insertion order nor on
content, and is the same on every run and after every reopen. The sorted hashes also find a row by id.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .features import TextFeatures
from .filters import MetadataColumns
from .index import CodeIndex
from .model import SemanticHasher
from .storage import Storage
from .words import WordIndex


def id_keys(ids: Sequence[str]) -> np.ndarray:
    """The 64-bit BLAKE2b hash of each id, read as a big-endian integer."""
    digests = b"".join([hashlib.blake2b(i.encode("utf-8"), digest_size=8).digest() for i in ids])
    return np.frombuffer(digests, dtype=">u8").astype(np.uint64)


def tiebreak_order(ids: Sequence[str]) -> np.ndarray:
    """Row order for documents: by the hash of the id (two ids with one hash: by id too)."""
    keys = id_keys(ids)
    order = np.argsort(keys, kind="stable")
    if np.any(keys[order][1:] == keys[order][:-1]):
        order = np.lexsort((np.asarray(ids, dtype=object).astype(str), keys))
    return order


@dataclass(frozen=True)
class Snapshot:
    features: TextFeatures
    hasher: SemanticHasher
    ids: np.ndarray  # object array; position = row in every structure below
    keys: np.ndarray  # id_keys(ids), ascending
    index: CodeIndex
    words: WordIndex
    columns: MetadataColumns
    generation: str | None  # the database's at load: a later write changes it

    @classmethod
    def load(cls, storage: Storage, features: TextFeatures, hasher: SemanticHasher) -> Snapshot:
        """A snapshot around the stored codes, words and metadata, with the given vocabulary and model."""
        generation = storage.read_generation()  # read first: a write in between shows as a change later
        stored = storage.read_lookup()
        ids, codes = stored.ids, stored.codes.reshape(len(stored.ids), hasher.bits // 8)
        order = tiebreak_order(ids)
        row_of_stored = np.empty(len(ids), dtype=np.int64)
        row_of_stored[order] = np.arange(len(ids))
        return cls(features, hasher, np.asarray(ids, dtype=object)[order], id_keys(ids)[order],
                   CodeIndex(codes[order], hasher.bits), WordIndex(stored.words, row_of_stored),
                   MetadataColumns([json.loads(stored.metadata[i]) for i in order.tolist()]), generation)

    def row_of(self, doc_id: str) -> int | None:
        """The row of ``doc_id``, or None when the index does not hold it."""
        key = id_keys([doc_id])[0]
        row = int(self.keys.searchsorted(key))
        while row < len(self.keys) and self.keys[row] == key:
            if self.ids[row] == doc_id:
                return row
            row += 1
        return None
