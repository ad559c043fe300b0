"""``LookupRows``: the rows a segment is built from, as the store reads them (apart from ``segment`` so
that the store can name them without importing the search structures)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class LookupRows(NamedTuple):
    """The rows a segment is built from, column by column (the store's lookup table, in its order)."""

    ids: list[str]
    codes: np.ndarray  # flat uint8
    words: list[bytes]
    metadata: list[str]  # JSON objects
