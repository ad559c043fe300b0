"""A search's view of an index: the segments it ranks (``Part``), the hits it returns (``Page``), and
the nearest codes of one part (``nearest``), which both rankings build on."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hashsearch.index.code_index import CodeIndex
from hashsearch.index.segment import Segment

# A part that leaves out at most this share of its rows is searched like the whole segment, widened
# past the rows left out; one that leaves out more is answered from the probed balls' allowed rows when
# they hold enough, else by a scan of its allowed rows.
WIDEN_UP_TO = 1 / 16


@dataclass(frozen=True)
class Page:
    """Which hits a search returns: ``k`` of them after the first ``offset``, no farther than
    ``max_distance`` bits (None: any)."""

    k: int
    offset: int = 0
    max_distance: int | None = None

    @property
    def depth(self) -> int:
        return self.offset + self.k


@dataclass(frozen=True)
class Part:
    """A segment as one search sees it: only ``allowed`` rows (a mask; None: every row) can be hits;
    ``excluded`` counts the others."""

    segment: Segment
    allowed: np.ndarray | None = None
    excluded: int = 0


def nearest(part: Part, query_code: np.ndarray, k: int, radius: int, max_distance: int | None,
            enough: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, distances): the Hamming top ``k`` among the part's allowed rows within ``max_distance``
    (with ``enough``: at least that many, more when the probed balls hold them, see ``CodeIndex.search``)."""
    codes = part.segment.index
    if part.allowed is None:
        rows, distances = codes.search(query_code, k, radius, enough=enough)
    elif part.excluded <= WIDEN_UP_TO * len(codes):
        rows, distances = _search_past(codes, part.allowed, query_code, k, radius, enough or k)
    else:
        found = codes.search_allowed(query_code, part.allowed, len(codes) - part.excluded, k, radius, enough or k)
        rows, distances = found or codes.search_among(query_code, np.flatnonzero(part.allowed), k)
    if max_distance is not None:
        near = distances <= max_distance
        rows, distances = rows[near], distances[near]
    return rows, distances


def _search_past(codes: CodeIndex, allowed: np.ndarray, query_code: np.ndarray, k: int, radius: int,
                 enough: int) -> tuple[np.ndarray, np.ndarray]:
    """``CodeIndex.search`` among the allowed rows when few are left out: the exact top k + e of every
    row, with e the rows left out that it met, widened until ``enough`` (at most k) allowed remain.
    Each round meets more rows left out than the last asked past, so it ends."""
    enough, extra = min(enough, k), 0
    while True:
        rows, distances = codes.search(query_code, k + extra, radius, enough=enough + extra)
        keep = allowed[rows]
        kept = int(keep.sum())
        if kept >= enough or len(rows) == len(codes):
            return rows[keep][:k], distances[keep][:k]
        extra = len(rows) - kept


def lookup(parts: list[Part], name: str, numbers: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``segment.<name>[row]`` (ids or keys) for each candidate's part number and row."""
    columns = [getattr(part.segment, name) for part in parts]
    if len(columns) == 1:
        return columns[0][rows]
    values = np.empty(len(rows), dtype=columns[0].dtype)
    for number, column in enumerate(columns):
        mine = numbers == number
        values[mine] = column[rows[mine]]
    return values


def top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions that hold the ``k`` highest scores and every score tied with the k-th (a partition)."""
    if len(scores) <= 4 * k:
        return np.arange(len(scores))
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]
    return np.flatnonzero(scores >= kth)
