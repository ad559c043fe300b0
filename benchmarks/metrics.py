"""Precision@k for ranked retrieval with ties broken fairly. Benchmarks only."""
from __future__ import annotations

import time

import numpy as np

from hashsearch.index import codes as codelib

_QUERY_CHUNK = 256


def hamming_matrix(query_codes: np.ndarray, database_codes: np.ndarray) -> np.ndarray:
    """(queries, database) Hamming distances via +-1 dot products: bits - 2 * (matches - bits / 2)."""
    q = codelib.unpack(query_codes).astype(np.float32) * 2 - 1
    d = codelib.unpack(database_codes).astype(np.float32) * 2 - 1
    bits = q.shape[1]
    return np.rint((bits - q @ d.T) / 2).astype(np.int32)


def expected_precision(scores: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Precision@k of one query when ties in ``scores`` (lower = better) are broken uniformly at random.

    Exact expectation, no sampling: everything strictly better than the k-th score is retrieved; the
    tied group at the k-th score fills the remaining slots, each member equally likely.
    """
    kth = np.partition(scores, k - 1)[k - 1]
    better = scores < kth
    tied = scores == kth
    slots = k - better.sum()
    return float((relevant[better].sum() + relevant[tied].sum() * slots / tied.sum()) / k)


def precision_at_k_codes(query_codes, database_codes, Y_query, Y_database, k: int = 100) -> float:
    """Mean precision@k ranking the database by Hamming distance; relevant = shares a label."""
    values = []
    for start in range(0, len(query_codes), _QUERY_CHUNK):
        stop = start + _QUERY_CHUNK
        distances = hamming_matrix(query_codes[start:stop], database_codes)
        relevant = (Y_query[start:stop].astype(np.float32) @ Y_database.T.astype(np.float32)) > 0
        values += [expected_precision(d, r, k) for d, r in zip(distances, relevant, strict=False)]
    return float(np.mean(values))


def precision_at_k_cosine(X_query, X_database, Y_query, Y_database, k: int = 100) -> float:
    """Mean precision@k ranking by exact cosine similarity of L2-normalised rows."""
    values = []
    for start in range(0, X_query.shape[0], _QUERY_CHUNK):
        stop = start + _QUERY_CHUNK
        similarity = (X_query[start:stop] @ X_database.T).toarray()
        relevant = (Y_query[start:stop].astype(np.float32) @ Y_database.T.astype(np.float32)) > 0
        values += [expected_precision(-s, r, k) for s, r in zip(similarity, relevant, strict=False)]
    return float(np.mean(values))


def precision_of_ranked_ids(ranked: list[list[int]], Y_query, Y_database, k: int = 100) -> float:
    """Mean precision@k of given rankings (rows of the database), for end-to-end searches."""
    return float(np.mean([(Y_database[rows[:k]] @ Y_query[i] > 0).sum() / k for i, rows in enumerate(ranked)]))


def median_ms(function, texts) -> float:
    """Median milliseconds of ``function(text)`` over the texts, one call at a time."""
    times = []
    for text in texts:
        started = time.perf_counter()
        function(text)
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)
