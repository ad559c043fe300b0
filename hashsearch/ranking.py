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
Distances are read only for the candidates that could rank: with the code's share at most
``weight`` (distance 0), a candidate whose word score plus that stays under the full score of the
best ``k`` by words alone cannot (an exact cut: at 1M documents it keeps some 30 of a short query's
7,000 candidates).

Hamming: the true Hamming top k, exact code, then bit flips within a radius, then a scan.

Both rank the index's segments (``Part``: a segment with the rows a filter, or a removal since it
was built, leaves out; only allowed rows can be hits, however few) and merge them; they take a page
(``offset`` hits skipped: page 2 of size 10 equals hits 11-20 of one search of 20) and
``max_distance`` (no hit farther than this many bits). Equal scores or distances come in ascending
order of the id hash, every segment's row order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index import CodeIndex
from .segment import Segment

MODES = ("hybrid", "hamming")
# Nearest codes scored beside the word candidates: the nearest offset + k exactly, and up to this many
# when the probed Hamming balls hold them (a scan for exactly 100 costs a millisecond at 1M documents).
HASH_CANDIDATES = 100
MAX_QUERY_WORDS = 10  # a longer query's candidates come from its rarest words
SHORT_CODE_WEIGHT, LONG_CODE_WEIGHT = 0.3, 1.5
SHORT_QUERY, LONG_QUERY = 8, 24  # distinct known words: the code's weight ramps between these
# A part that leaves out at most this share of its rows is searched like the whole segment, widened
# past the rows left out; one that leaves out more is answered from the probed balls' allowed rows when
# they hold enough, else by a scan of its allowed rows.
WIDEN_UP_TO = 1 / 16
# Candidates past this many are cut to those whose score could rank (``_could_rank``) before their
# Hamming distances are read.
PRUNE_FROM = 512


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


def code_weight(n_words: int) -> float:
    """How much the code counts against the words, for a query of ``n_words`` distinct known words."""
    ramp = min(max((n_words - SHORT_QUERY) / (LONG_QUERY - SHORT_QUERY), 0.0), 1.0)
    return SHORT_CODE_WEIGHT + ramp * (LONG_CODE_WEIGHT - SHORT_CODE_WEIGHT)


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


def hamming(parts: list[Part], query_code: np.ndarray, radius: int, page: Page) -> tuple[np.ndarray, np.ndarray]:
    """(ids, distances) of the page's hits: the true Hamming top k over every part."""
    found = [(part.segment, *nearest(part, query_code, page.depth, radius, page.max_distance)) for part in parts]
    ids, keys, distances = (np.concatenate(column) for column in zip(*(
        (segment.ids[rows], segment.keys[rows], distances) for segment, rows, distances in found)))
    best = np.lexsort((keys, distances))[page.offset:page.depth]
    return ids[best], distances[best]


def hybrid(parts: list[Part], query_words: np.ndarray, query_code: np.ndarray, radius: int,
           page: Page) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, Hamming distances, scores) of the page's hits for the query's words (hashes) and code,
    best first."""
    found = []  # (part number, rows, word scores) of each part's candidates
    known = np.zeros(len(query_words), dtype=bool)
    for number, part in enumerate(parts):
        segment = part.segment
        code_rows, _ = nearest(part, query_code, max(page.depth, HASH_CANDIDATES), radius, page.max_distance,
                               enough=page.depth)
        words, held = segment.words.locate(query_words)
        known |= held
        rows, lexical = segment.words.scores(segment.words.rarest(words, MAX_QUERY_WORDS), allowed=part.allowed,
                                             extra_rows=code_rows)
        if page.max_distance is not None:  # the best word score is the best among the hits allowed
            near = segment.index.distances(query_code, rows) <= page.max_distance
            rows, lexical = rows[near], lexical[near]
        found.append((np.full(len(rows), number, dtype=np.int8), rows, lexical))
    numbers, rows, lexical = (np.concatenate(column) if len(found) > 1 else column[0] for column in zip(*found))
    if len(lexical) and (best_words := lexical.max()) > 0:
        lexical /= best_words
    weight = code_weight(int(known.sum()))
    numbers, rows, lexical = _could_rank(parts, query_code, numbers, rows, lexical, weight, page.depth)
    distances = _distances(parts, query_code, numbers, rows)
    scores = _scores(lexical, distances, weight, parts[0].segment.index.bits)
    chosen = _candidates(scores, page.depth)
    best = chosen[np.lexsort((_lookup(parts, "keys", numbers[chosen], rows[chosen]),
                              -scores[chosen]))[page.offset:page.depth]]
    return _lookup(parts, "ids", numbers[best], rows[best]), distances[best], scores[best]


def _scores(lexical: np.ndarray, distances: np.ndarray, weight: float, bits: int) -> np.ndarray:
    return lexical + np.float32(weight) * (1 - 2 * distances / np.float32(bits))


def _could_rank(parts: list[Part], query_code: np.ndarray, numbers: np.ndarray, rows: np.ndarray,
                lexical: np.ndarray, weight: float, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidates whose score could reach the top ``depth``, an exact cut that spares most of the
    Hamming distances of a common word's documents: the ``depth`` best by words alone, scored in full,
    set a bar; a candidate whose word score plus the code's largest share (``weight``, at distance 0)
    stays under it cannot rank."""
    if len(rows) <= max(PRUNE_FROM, 4 * depth):
        return numbers, rows, lexical
    seed = np.argpartition(lexical, len(lexical) - depth)[len(lexical) - depth:]
    bits = parts[0].segment.index.bits
    bar = _scores(lexical[seed], _distances(parts, query_code, numbers[seed], rows[seed]), weight, bits).min()
    keep = np.flatnonzero(lexical + np.float64(weight) >= bar - 1e-6)  # the margin covers float rounding
    return numbers[keep], rows[keep], lexical[keep]


def _distances(parts: list[Part], query_code: np.ndarray, numbers: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The Hamming distance from the query to each candidate (part number, row)."""
    if len(parts) == 1:
        return parts[0].segment.index.distances(query_code, rows)
    distances = np.empty(len(rows), dtype=np.int64)
    for number, part in enumerate(parts):
        mine = numbers == number
        distances[mine] = part.segment.index.distances(query_code, rows[mine])
    return distances


def _lookup(parts: list[Part], name: str, numbers: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``segment.<name>[row]`` (ids or keys) for each candidate's part number and row."""
    columns = [getattr(part.segment, name) for part in parts]
    if len(columns) == 1:
        return columns[0][rows]
    values = np.empty(len(rows), dtype=columns[0].dtype)
    for number, column in enumerate(columns):
        mine = numbers == number
        values[mine] = column[rows[mine]]
    return values


def _candidates(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions that hold the ``k`` highest scores and every score tied with the k-th (a partition)."""
    if len(scores) <= 4 * k:
        return np.arange(len(scores))
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]
    return np.flatnonzero(scores >= kth)
