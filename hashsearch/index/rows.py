"""``LookupRows``: the rows a segment is built from, as the store reads them (apart from ``segment`` so
that the store can name them without importing the search structures)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np


class LookupRows(NamedTuple):
    """The rows a segment is built from, column by column (the store's lookup table, in its order)."""

    ids: list[str]
    codes: np.ndarray  # flat uint8
    words: list[bytes]
    metadata: list[str]  # JSON objects

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> LookupRows:
        """The columns of database rows (id, code, words, metadata), bytes columns as the driver gave them."""
        codes = np.frombuffer(b"".join([bytes(row[1]) for row in rows]), dtype=np.uint8)
        return cls([row[0] for row in rows], codes, [bytes(row[2]) for row in rows], [row[3] for row in rows])
