"""A segment: a set of documents searched together (their ids, code index, word sketches, word index,
metadata columns).

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

from hashsearch.index import packing
from hashsearch.index.code_index import CodeIndex
from hashsearch.index.filters import MetadataColumns
from hashsearch.index.ids import IdColumn
from hashsearch.index.rows import LookupRows
from hashsearch.index.sketch import Sketcher
from hashsearch.index.words import WordIndex

# Of ``Segment.to_bytes`` (2 added the sketches, 3 left .npz for ``packing``, 4 the ids as ``IdColumn``'s
# arrays instead of JSON): a segment saved in another is rebuilt from the documents.
SAVED_FORMAT = 4


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
    ids: IdColumn  # position = row in every structure below
    keys: np.ndarray  # id_keys(ids), ascending
    index: CodeIndex
    sketches: np.ndarray  # (n, 16) uint8, ``Sketcher``'s
    words: WordIndex
    columns: MetadataColumns

    @classmethod
    def build(cls, stored: LookupRows, bits: int, sketcher: Sketcher, *, reference: Segment | None = None) -> Segment:
        """A segment over stored rows (in any order). With a ``reference`` (the segment these documents
        join), word scores use both segments' statistics, so that the two segments' scores compare."""
        ids, codes = stored.ids, stored.codes.reshape(len(stored.ids), bits // 8)
        keys = id_keys(ids)
        order = tiebreak_order(ids, keys)
        row_of_stored = np.empty(len(ids), dtype=np.int64)
        row_of_stored[order] = np.arange(len(ids))
        # One JSON array for all the metadata objects: a single parse, not a call per document.
        metadata = json.loads("[" + ",".join(stored.metadata) + "]")
        order_list = order.tolist()
        return cls(IdColumn.from_strings([ids[i] for i in order_list]), keys[order], CodeIndex(codes[order], bits),
                   sketcher.documents(stored.words)[order],
                   WordIndex(stored.words, row_of_stored, reference=None if reference is None else reference.words),
                   MetadataColumns([metadata[i] for i in order_list]))

    def __len__(self) -> int:
        return len(self.ids)

    def shard(self, rows: np.ndarray) -> Segment:
        """The segment of the documents at ``rows`` (ascending), with this segment's word statistics
        (``WordIndex.shard``): what one machine would hold of an index split by id hash, whose hits
        merge with the other shards' into this segment's (tests/test_sharding.py, benchmarks/sharding.py)."""
        rows = np.asarray(rows, dtype=np.int64)
        return Segment(self.ids.subset(rows), self.keys[rows], CodeIndex(self.index.codes[rows], self.index.bits),
                       self.sketches[rows], self.words.shard(rows), self.columns.subset(rows))

    def to_bytes(self) -> memoryview:
        """The segment as one self-describing buffer (``packing``, no pickle): ids, codes, sketches, word
        index and columns, so that an index opens without rebuilding them from every stored document
        (``from_bytes``)."""
        arrays = {"ids.data": self.ids.data, "ids.ends": self.ids.ends, "keys": self.keys,
                  "codes": self.index.codes, "rows_by_key": self.index.rows_by_key,
                  "sketches": self.sketches,
                  **{f"words.{name}": array for name, array in self.words.arrays().items()},
                  **{f"columns.{name}": array for name, array in self.columns.arrays().items()}}
        return packing.pack(arrays, {"format": SAVED_FORMAT, "bits": self.index.bits})

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, bits: int) -> Segment | None:
        """The segment ``to_bytes`` saved, its arrays read-only views of ``data``; or None when it was
        saved in another format or code length, or cannot be read (damaged): the caller then reads the
        documents anew."""
        unpacked = packing.unpack(data)
        if unpacked is None or not isinstance(unpacked[0], dict):
            return None
        meta, arrays = unpacked
        if meta.get("format") != SAVED_FORMAT or meta.get("bits") != bits:
            return None
        try:
            ids = IdColumn(arrays["ids.data"], arrays["ids.ends"])
            if len(ids) != len(arrays["keys"]) or (len(ids) and int(ids.ends[-1]) != len(ids.data)):
                return None
            index = CodeIndex(arrays["codes"], bits, rows_by_key=arrays.get("rows_by_key"))
            return cls(ids, arrays["keys"], index, arrays["sketches"],
                       WordIndex.from_arrays(_prefixed(arrays, "words.")),
                       MetadataColumns.from_arrays(_prefixed(arrays, "columns.")))
        except (KeyError, ValueError):
            return None

    def row_of(self, doc_id: str) -> int | None:
        """The row of ``doc_id``, or None when the segment does not hold it."""
        key = id_keys([doc_id])[0]
        row = int(self.keys.searchsorted(key))
        while row < len(self.keys) and self.keys[row] == key:
            if self.ids[row] == doc_id:
                return row
            row += 1
        return None


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {name[len(prefix):]: array for name, array in arrays.items() if name.startswith(prefix)}
