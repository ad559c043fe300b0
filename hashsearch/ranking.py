"""The default ranking: the query's words and its code, scored together over a few candidates.

Candidates are the documents whose posting lists hold the query's words (``WordIndex``) and the
nearest codes (``CodeIndex``). Each gets

    score = words / best words score among the candidates + weight * (1 - 2 * hamming / bits)

a convex-style combination of a lexical and a semantic score (Bruch et al., TOIS 2023, found such a
fusion better than reciprocal ranks). The weight of the code grows with the query's length: a code
computed from five words is a weak signal, one computed from a whole document a strong one. Measured
on 20 Newsgroups and Reuters (benchmarks/user_queries.py): 0.5 for short queries lifts short-query
precision above BM25 alone and above the codes alone; 1.5 for whole documents keeps their ranking as
good as the codes' (and better: words order documents that share a code). Equal scores come in
ascending row order, the index's fixed tie-break.
"""
from __future__ import annotations

import numpy as np

from . import codes as codelib
from .index import CodeIndex
from .words import WordIndex

MODES = ("hybrid", "hamming")
HASH_CANDIDATES = 100  # nearest codes scored beside the word candidates (at least k)
MAX_QUERY_WORDS = 10  # a longer query's candidates come from its rarest words
SHORT_CODE_WEIGHT, LONG_CODE_WEIGHT = 0.5, 1.5
SHORT_QUERY, LONG_QUERY = 8, 24  # distinct known words: the code's weight ramps between these


def code_weight(n_words: int) -> float:
    """How much the code counts against the words, for a query of ``n_words`` distinct known words."""
    ramp = min(max((n_words - SHORT_QUERY) / (LONG_QUERY - SHORT_QUERY), 0.0), 1.0)
    return SHORT_CODE_WEIGHT + ramp * (LONG_CODE_WEIGHT - SHORT_CODE_WEIGHT)


def rank(words: WordIndex, codes: CodeIndex, text: str, query_code: np.ndarray, k: int,
         radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, Hamming distances, scores) of the ``k`` best documents for the query, best first."""
    query_words = words.query_words(text)
    word_rows, word_scores = words.scores(words.rarest(query_words, MAX_QUERY_WORDS))
    code_rows, _ = codes.search(query_code, max(k, HASH_CANDIDATES), radius)
    rows = np.union1d(word_rows, code_rows)
    if not len(rows):
        return rows, rows, np.empty(0, dtype=np.float32)
    lexical = np.zeros(len(rows), dtype=np.float32)
    lexical[rows.searchsorted(word_rows)] = word_scores
    if len(word_scores):
        lexical /= word_scores.max()
    distances = codelib.hamming(np.ascontiguousarray(query_code, dtype=np.uint8), codes.codes[rows])
    scores = lexical + np.float32(code_weight(len(query_words))) * (1 - 2 * distances / np.float32(codes.bits))
    best = np.lexsort((rows, -scores))[:k] if len(rows) <= 4 * k else _top(scores, rows, k)
    return rows[best], distances[best], scores[best]


def _top(scores: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores, ties by ascending row: a partition, then a sort of the few."""
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]
    chosen = np.flatnonzero(scores >= kth)
    return chosen[np.lexsort((rows[chosen], -scores[chosen]))[:k]]
