"""The two rankings: the default (the query's words and its code, scored together) and pure Hamming.

Default: candidates are the documents whose posting lists hold the query's words (``WordIndex``) and
the nearest codes (``CodeIndex``: the nearest offset + k, and up to 100 where the probed balls hold
them; on an index small enough to scan, the nearest 100). Each gets

    score = words / best words score among the candidates + weight * (1 - 2 * hamming / bits)

a convex-style combination of a lexical and a semantic score (Bruch et al., TOIS 2023, found such a
fusion better than reciprocal ranks). The weight of the code grows with the query's length: a code
computed from five words is a weak signal, one computed from a whole document a strong one. Measured
on 20 Newsgroups and Reuters (benchmarks/user_queries.py): 0.3 for short queries lifts short-query
precision above BM25 alone and above the codes alone; 1.5 for whole documents keeps their ranking as
good as the codes' (and better: words order documents that share a code).

Hamming: the true Hamming top k, exact code, then bit flips within a radius, then a scan.

Both take a filter (a mask over rows: only those rows can be hits, however few), a page (``offset``
hits skipped: page 2 of size 10 equals hits 11-20 of one search of 20) and ``max_distance`` (no hit
farther than this many bits). Equal scores or distances come in ascending row order, the index's
fixed tie-break.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index import CodeIndex
from .words import WordIndex

MODES = ("hybrid", "hamming")
# Nearest codes scored beside the word candidates: the nearest offset + k exactly, and up to this many
# when the probed Hamming balls hold them (a scan for exactly 100 costs a millisecond at 1M documents).
HASH_CANDIDATES = 100
MAX_QUERY_WORDS = 10  # a longer query's candidates come from its rarest words
SHORT_CODE_WEIGHT, LONG_CODE_WEIGHT = 0.3, 1.5
SHORT_QUERY, LONG_QUERY = 8, 24  # distinct known words: the code's weight ramps between these


@dataclass(frozen=True)
class Page:
    """Which hits a search returns: ``k`` of them after the first ``offset``, among ``allowed`` rows
    (a boolean mask; None: every row) no farther than ``max_distance`` bits (None: any)."""

    k: int
    offset: int = 0
    allowed: np.ndarray | None = None
    max_distance: int | None = None

    @property
    def depth(self) -> int:
        return self.offset + self.k


def code_weight(n_words: int) -> float:
    """How much the code counts against the words, for a query of ``n_words`` distinct known words."""
    ramp = min(max((n_words - SHORT_QUERY) / (LONG_QUERY - SHORT_QUERY), 0.0), 1.0)
    return SHORT_CODE_WEIGHT + ramp * (LONG_CODE_WEIGHT - SHORT_CODE_WEIGHT)


def nearest(codes: CodeIndex, query_code: np.ndarray, k: int, radius: int, page: Page,
            enough: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, distances): the Hamming top ``k`` among the page's allowed rows within its distance (with
    ``enough``: at least that many, more when the probed balls hold them, see ``CodeIndex.search``)."""
    if page.allowed is None:
        rows, distances = codes.search(query_code, k, radius, enough=enough)
    else:
        rows, distances = codes.search_among(query_code, np.flatnonzero(page.allowed), k)
    if page.max_distance is not None:
        near = distances <= page.max_distance
        rows, distances = rows[near], distances[near]
    return rows, distances


def hamming(codes: CodeIndex, query_code: np.ndarray, radius: int, page: Page) -> tuple[np.ndarray, np.ndarray]:
    rows, distances = nearest(codes, query_code, page.depth, radius, page)
    return rows[page.offset:], distances[page.offset:]


def hybrid(words: WordIndex, codes: CodeIndex, query_words: np.ndarray, query_code: np.ndarray, radius: int,
           page: Page) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, Hamming distances, scores) of the page's hits for the query's words and code, best first."""
    code_rows, _ = nearest(codes, query_code, max(page.depth, HASH_CANDIDATES), radius, page, enough=page.depth)
    rows, lexical = words.scores(words.rarest(query_words, MAX_QUERY_WORDS), allowed=page.allowed,
                                 extra_rows=code_rows)
    distances = codes.distances(query_code, rows)
    if page.max_distance is not None:
        near = distances <= page.max_distance
        rows, distances, lexical = rows[near], distances[near], lexical[near]
    if len(lexical) and (best_words := lexical.max()) > 0:
        lexical /= best_words
    scores = lexical + np.float32(code_weight(len(query_words))) * (1 - 2 * distances / np.float32(codes.bits))
    best = _top(scores, rows, page.depth)[page.offset:]
    return rows[best], distances[best], scores[best]


def _top(scores: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores, ties by ascending row: a partition, then a sort of the few."""
    if len(scores) > 4 * k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        chosen = np.flatnonzero(scores >= kth)
    else:
        chosen = np.arange(len(scores))
    return chosen[np.lexsort((rows[chosen], -scores[chosen]))[:k]]
