"""The in-memory search structures over packed codes: a hash table and a FAISS binary index.

Rows are numbered 0..n-1 and the caller decides their order; results at equal Hamming distance come
in ascending row order, so the row order *is* the tie-break. Both structures are built from the codes
array every time (FAISS index files are never read: a tampered file could crash or mislead us) and
never modified afterwards, which makes concurrent searches safe without locks.
"""
from __future__ import annotations

from math import comb

import faiss
import numpy as np

from . import codes as codelib


# Probing one distance costs a fixed overhead (numpy calls) plus a binary search per probed code; both
# are counted in codes a FAISS scan reads in the same time (measured on 2-core x86, see RESULTS.md).
# Before each distance the index compares probing with scanning everything and takes the cheaper: small
# indexes are scanned, large ones probed, and the answer is the same exact top k either way.
PROBE_OVERHEAD_IN_CODES = 10_000.0
PROBE_COST_IN_CODES = 30.0
SCAN_TIE_MARGIN = 64


class CodeIndex:
    """Exact Hamming top-k over packed codes: bucket probes within a radius, then a FAISS scan."""

    def __init__(self, codes: np.ndarray, bits: int, *, probe_cost: float = PROBE_COST_IN_CODES,
                 probe_overhead: float = PROBE_OVERHEAD_IN_CODES) -> None:
        self.bits = bits
        self.probe_cost = probe_cost
        self.probe_overhead = probe_overhead
        self.codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, bits // 8)
        keys = codelib.bucket_keys(self.codes)
        # Rows grouped by bucket key (a CSR layout: bucket b holds rows_by_key[starts[b]:starts[b + 1]]);
        # the stable sort keeps ascending rows within a bucket. int32 keeps it near 4 bytes a document.
        row_type = np.int32 if len(self.codes) < 2**31 else np.int64
        self._rows_by_key = np.argsort(keys, kind="stable").astype(row_type)
        self._bucket_keys, starts = np.unique(keys[self._rows_by_key], return_index=True)
        self._bucket_starts = np.append(starts, len(self.codes)).astype(row_type)
        self._faiss = faiss.IndexBinaryFlat(bits)
        if len(self.codes):
            self._faiss.add(self.codes)

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def n_buckets(self) -> int:
        return len(self._bucket_keys)

    @property
    def largest_bucket(self) -> int:
        return int(np.diff(self._bucket_starts).max()) if len(self.codes) else 0

    @property
    def nbytes(self) -> int:
        """Memory held by the search structures (codes, hash table, FAISS copy of the codes)."""
        return (self.codes.nbytes * 2 + self._rows_by_key.nbytes + self._bucket_keys.nbytes
                + self._bucket_starts.nbytes)

    def lookup(self, probes: np.ndarray) -> np.ndarray:
        """Rows whose code equals one of the packed ``probes``, ascending."""
        probes = np.ascontiguousarray(probes, dtype=np.uint8).reshape(-1, self.codes.shape[1])
        rows = self._rows_in_buckets(codelib.bucket_keys(probes))
        if not codelib.keys_are_exact(self.codes.shape[1]):
            # Folded keys may collide: keep only rows whose full code is one of the probes.
            rows = rows[(self.codes[rows][:, None, :] == probes[None, :, :]).all(axis=2).any(axis=1)]
        return np.sort(rows)

    def _rows_in_buckets(self, keys: np.ndarray) -> np.ndarray:
        """Rows of every bucket whose key is one of ``keys``, bucket by bucket (int64)."""
        if not len(self._bucket_keys):
            return np.empty(0, dtype=np.int64)
        positions = np.minimum(np.searchsorted(self._bucket_keys, keys), len(self._bucket_keys) - 1)
        positions = positions[self._bucket_keys[positions] == keys]
        if len(positions) <= 1:  # the common case: skip the concatenation below
            span = slice(*self._bucket_starts[positions[0]:positions[0] + 2]) if len(positions) else slice(0, 0)
            return self._rows_by_key[span].astype(np.int64)
        starts = self._bucket_starts[positions].astype(np.int64)
        lengths = self._bucket_starts[positions + 1] - starts
        # Concatenate the ranges starts[j]:starts[j] + lengths[j] without a Python loop.
        offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        return self._rows_by_key[offsets + np.arange(len(offsets))].astype(np.int64)

    def search(self, query: np.ndarray, k: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` rows nearest to the packed ``query`` by Hamming distance, ties by ascending row.

        Probes the exact bucket, then every code at distance 1, 2, ... up to ``radius``; stops as soon
        as a finished distance brings the count to ``k``, which makes the answer exact. When the ball
        holds fewer than ``k`` rows, or probing a distance would cost more than scanning every code, a
        FAISS scan answers instead, so the result is always the true top k.
        """
        query = np.ascontiguousarray(query, dtype=np.uint8).reshape(-1)
        k = min(k, len(self.codes))
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        query_key = codelib.bucket_key(query)
        exact_keys = codelib.keys_are_exact(len(query))
        found_rows: list[np.ndarray] = []
        found = 0
        for distance in range(min(radius, self.bits) + 1):
            if self.probe_overhead + comb(self.bits, distance) * self.probe_cost > len(self.codes):
                break
            rows = self._rows_in_buckets(query_key ^ codelib.flip_keys(self.bits, distance))
            if not exact_keys:
                rows = rows[codelib.hamming(query, self.codes[rows]) == distance]
            rows.sort()
            found_rows.append(rows)
            found += len(rows)
            if found >= k:
                distances = np.repeat(np.arange(len(found_rows)), [len(r) for r in found_rows])
                return np.concatenate(found_rows)[:k], distances[:k]
        return self.scan(query, k)

    def scan(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``k`` by a FAISS flat scan, with ties at the k-th distance resolved by ascending row.

        FAISS picks arbitrarily among rows tied at its last distance, so it is asked for ``k`` plus a
        margin: when the margin ends past the k-th distance, every row tied at the k-th distance is among
        its answers and we order them ourselves; otherwise a range search collects them all.
        """
        query = np.ascontiguousarray(query, dtype=np.uint8).reshape(1, -1)
        k = min(k, len(self.codes))
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        wide = min(len(self.codes), k + SCAN_TIE_MARGIN)
        distances, rows = self._faiss.search(query, wide)
        distances, rows = distances[0].astype(np.int64), rows[0].astype(np.int64)
        if wide < len(self.codes) and distances[-1] == distances[k - 1]:
            limits, distances, rows = self._faiss.range_search(query, int(distances[k - 1]) + 1)
            distances = distances[limits[0]:limits[1]].astype(np.int64)
            rows = rows[limits[0]:limits[1]].astype(np.int64)
        order = np.lexsort((rows, distances))[:k]
        return rows[order], distances[order]
