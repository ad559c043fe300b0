"""A segment over every stored document, assembled from batches of stored rows in two passes, in memory
bounded by what the segment holds (plus a batch and the posting buffer), not by the stored rows.

``Segment.build`` takes every row at once: at ten million documents their word counts alone are 4 GB
of Python bytes, and sorting their 850 million postings needs as much again. Here the first pass keeps
what the segment holds of each document (id, code, sketch, metadata values) and its length; rows are
then numbered by id hash (``segment.tiebreak_order``) and the mean length is known, so the second pass
adds each batch's word postings at their rows to a ``PostingsBuilder``. The result is the segment
``Segment.build`` makes of the same rows (tests/test_assembly.py).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from hashsearch.index.code_index import CodeIndex
from hashsearch.index.filters import MetadataColumns
from hashsearch.index.ids import IdColumn
from hashsearch.index.postings import BUFFER_PAIRS, Pairs, PostingsBuilder
from hashsearch.index.rows import LookupRows
from hashsearch.index.segment import Segment, id_keys, tiebreak_order
from hashsearch.index.sketch import SKETCH_BITS, Sketcher
from hashsearch.index.words import POSTINGS_PER_WORD, WordIndex


class _FieldValues:
    """Metadata values gathered field by field (a record without the field: ``MetadataColumns.ABSENT``),
    with each distinct string held once."""

    def __init__(self) -> None:
        self.n_rows = 0
        self.values: dict[str, list[Any]] = {}
        self._strings: dict[str, str] = {}

    def add(self, records: list[dict[str, Any]]) -> None:
        absent, strings = MetadataColumns.ABSENT, self._strings
        for name in set().union(*records) - set(self.values):
            self.values[name] = [absent] * self.n_rows
        for name, values in self.values.items():
            values.extend(strings.setdefault(value, value) if isinstance(value, str) else value
                          for value in (record.get(name, absent) for record in records))
        self.n_rows += len(records)


def assemble_segment(scan: Callable[[], Iterable[LookupRows]], bits: int, sketcher: Sketcher, *,
                     postings_per_word: int = POSTINGS_PER_WORD, buffer_pairs: int = BUFFER_PAIRS) -> Segment:
    """The segment of every row that ``scan()`` yields, in batches; it is called twice and must yield
    the same rows both times (in any order: the second pass finds each row by its id)."""
    ids: list[str] = []
    keys, codes, sketches = [], [], []
    fields = _FieldValues()
    total_length = 0.0
    for batch in scan():
        ids.extend(batch.ids)
        keys.append(id_keys(batch.ids))
        codes.append(batch.codes.reshape(len(batch.ids), bits // 8))
        sketches.append(sketcher.documents(batch.words))
        total_length += float(Pairs(batch.words).lengths().sum())
        fields.add(json.loads("[" + ",".join(batch.metadata) + "]"))
    n = len(ids)
    all_keys = np.concatenate(keys) if keys else np.empty(0, np.uint64)
    order = tiebreak_order(ids, all_keys)
    order_list = order.tolist()
    row_ids = IdColumn.from_strings([ids[i] for i in order_list])
    del ids
    columns = MetadataColumns.from_values(n, {name: [values[i] for i in order_list]
                                              for name, values in fields.values.items()})
    del fields, order_list
    sorted_keys = all_keys[order]
    index = CodeIndex(_stacked(codes, (0, bits // 8))[order], bits)
    sketch_rows = _stacked(sketches, (0, SKETCH_BITS // 8))[order]
    del codes, sketches, all_keys, order
    mean_length = max(total_length / n, 1.0) if n else 1.0
    builder = PostingsBuilder(n, mean_length, limit=postings_per_word, buffer_pairs=buffer_pairs)
    for batch in scan():
        builder.add(Pairs(batch.words), _rows_of(batch.ids, sorted_keys, row_ids))
    words = WordIndex.from_arrays({**builder.finish(), "sizes": np.array([n, n], dtype=np.int64),
                                   "mean_length": np.array([mean_length])})
    return Segment(row_ids, sorted_keys, index, sketch_rows, words, columns)


def _stacked(parts: list[np.ndarray], empty_shape: tuple[int, int]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(empty_shape, dtype=np.uint8)


def _rows_of(batch_ids: list[str], sorted_keys: np.ndarray, row_ids: IdColumn) -> np.ndarray:
    """The rows of these ids in a segment whose rows hold ``row_ids`` with ascending id hashes
    ``sorted_keys`` (ids that share a hash are told apart by the id)."""
    rows = sorted_keys.searchsorted(id_keys(batch_ids))
    found = row_ids[np.minimum(rows, len(row_ids) - 1)] == np.asarray(batch_ids, dtype=object)
    for at in np.flatnonzero(~found).tolist():  # a hash shared by several ids: the rows after it
        row = int(rows[at])
        while row_ids[row] != batch_ids[at]:
            row += 1
        rows[at] = row
    return rows
