"""The in-memory search structures over packed codes: a hash table and a FAISS binary index.

Rows are numbered 0..n-1 and the caller decides their order; results at equal Hamming distance come
in ascending row order, so the row order *is* the tie-break. Both structures are built from the codes
array (FAISS index files are never read: a tampered file could crash or mislead us), the FAISS index
when a search first scans with it (most never do: a command that answers one query skips importing
FAISS, and a server holds no copy of its codes until a scan needs one), and never modified afterwards,
which makes concurrent searches safe without locks (two first scans at once build two equal indexes
and keep one).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from hashsearch.index import codes as codelib
from hashsearch.index import probing
from hashsearch.index.probing import PathStats, ProbeStrategy, probe_radii

_FIBONACCI_HASH = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio, odd: multiplying spreads the bits


class CodeIndex:
    """Exact Hamming top-k over packed codes: bucket probes within a radius, then a scan. ``strategy``:
    the knobs (None: ``probing.DEFAULT_STRATEGY`` as it is when the index is made); ``stats`` counts the
    paths searches took."""

    def __init__(self, codes: np.ndarray, bits: int, *, strategy: ProbeStrategy | None = None,
                 rows_by_key: np.ndarray | None = None) -> None:
        """``rows_by_key``: this index's ``rows_by_key`` as saved (a ten-million-row sort less on opening)."""
        self.bits = bits
        self.strategy = strategy or probing.DEFAULT_STRATEGY
        self.stats = PathStats()
        self.codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, bits // 8)
        # The same codes as whole machine words, one (up to 64 bits) or two a code: gathering a code is
        # then one read, not eight (8,000 codes of 1M in 44 instead of 280 us).
        self._words: np.ndarray = self.codes.view({2: np.uint16, 4: np.uint32}.get(bits // 8, np.uint64))
        if self._words.shape[1] == 1:
            self._words = self._words.ravel()
        self._exact_keys = codelib.keys_are_exact(bits // 8)  # else folded keys: compare full codes too
        keys = codelib.bucket_keys(self.codes)
        # Rows grouped by bucket key (a CSR layout: bucket b holds rows_by_key[starts[b]:starts[b + 1]]);
        # the stable sort keeps ascending rows within a bucket. int32 keeps it near 4 bytes a document.
        row_type = np.int32 if len(self.codes) < 2**31 else np.int64
        self._rows_by_key = (np.argsort(keys, kind="stable").astype(row_type) if rows_by_key is None
                             else rows_by_key)
        grouped = keys[self._rows_by_key]  # ascending: each bucket's key starts a run
        starts = np.flatnonzero(np.concatenate(([True], grouped[1:] != grouped[:-1]))[:len(grouped)])
        self._bucket_keys = grouped[starts]
        self._bucket_starts = np.append(starts, len(self.codes)).astype(row_type)
        # A one-hash Bloom filter over the bucket keys: most codes in a ball belong to no document, and
        # one gather turns most of them away before the binary search, which costs several times more.
        slot_bits = int(np.ceil(np.log2(max(4, len(self._bucket_keys) * self.strategy.filter_slots_per_bucket))))
        self._filter_shift = np.uint64(64 - slot_bits)
        self._filter = np.zeros(1 << slot_bits, dtype=bool)
        self._filter[self._filter_slots(self._bucket_keys)] = True
        self._widest_ball = (self._widest_ball_cheaper_than(len(self.codes)) if self.strategy.widest_ball is None
                             else min(self.strategy.widest_ball, bits))
        self._faiss: Any = None  # ``_flat_index``, made by the first scan that needs it

    def __len__(self) -> int:
        return len(self.codes)

    def _flat_index(self) -> Any:
        """The FAISS flat binary index of the codes, made on first use."""
        index = self._faiss
        if index is None:
            import faiss

            index = faiss.IndexBinaryFlat(self.bits)
            if len(self.codes):
                index.add(self.codes)
            self._faiss = index
        return index

    @property
    def rows_by_key(self) -> np.ndarray:
        """The rows in ascending order of bucket key, ascending within a bucket."""
        return self._rows_by_key

    def _widest_ball_cheaper_than(self, n_codes: int) -> int:
        """The widest ball (-1: none) that costs less to probe than a scan of ``n_codes`` codes."""
        overhead, cost = self.strategy.probe_overhead_in_codes, self.strategy.probe_cost_in_codes
        widest = -1
        while widest < self.bits and overhead + codelib.ball_size(self.bits, widest + 1) * cost <= n_codes:
            widest += 1
        return widest

    @property
    def _scans_buckets(self) -> bool:
        """Whether scans read the bucket keys instead of every code: where the keys are the codes and
        shared; FAISS's scan wins when most codes are distinct (1M random codes: 1.1 against 9.7 ms)."""
        return self._exact_keys and len(self._bucket_keys) <= self.strategy.bucket_scan_share * len(self.codes)

    @property
    def n_buckets(self) -> int:
        return len(self._bucket_keys)

    @property
    def largest_bucket(self) -> int:
        return int(np.diff(self._bucket_starts).max()) if len(self.codes) else 0

    @property
    def nbytes(self) -> int:
        """Memory held by the search structures (codes, hash table and its filter, FAISS copy of the codes)."""
        return (self.codes.nbytes * 2 + self._rows_by_key.nbytes + self._bucket_keys.nbytes
                + self._bucket_starts.nbytes + self._filter.nbytes)

    def lookup(self, probes: np.ndarray) -> np.ndarray:
        """Rows whose code equals one of the packed ``probes``, ascending."""
        probes = np.ascontiguousarray(probes, dtype=np.uint8).reshape(-1, self.codes.shape[1])
        rows = self._bucket_rows(self._bucket_positions(codelib.bucket_keys(probes)))
        if not self._exact_keys:
            # Folded keys may collide: keep only rows whose full code is one of the probes.
            rows = rows[(self.codes[rows][:, None, :] == probes[None, :, :]).all(axis=2).any(axis=1)]
        return np.sort(rows)

    def _filter_slots(self, keys: np.ndarray) -> np.ndarray:
        return (keys * _FIBONACCI_HASH) >> self._filter_shift

    def _bucket_positions(self, keys: np.ndarray) -> np.ndarray:
        """Positions (in ``_bucket_keys``) of the buckets whose key is one of ``keys``."""
        if len(keys) > self.strategy.filter_from_keys:
            keys = keys[self._filter.take(self._filter_slots(keys))]
        positions = self._bucket_keys.searchsorted(keys)
        return positions[self._bucket_keys.take(positions, mode="clip") == keys]

    def _bucket_spans(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where the rows of the buckets at ``positions`` start in ``_rows_by_key``, and how many there are."""
        starts = self._bucket_starts.take(positions)
        return starts, self._bucket_starts.take(positions + 1) - starts

    def _bucket_rows(self, positions: np.ndarray) -> np.ndarray:
        """Rows (int64) of the buckets at ``positions``, bucket by bucket."""
        return self._ranges(*self._bucket_spans(positions))

    def _ranges(self, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """``_rows_by_key`` over the ranges starts[j]:starts[j] + lengths[j], concatenated (int64)."""
        ends = np.cumsum(lengths)
        offsets = np.repeat(starts - (ends - lengths), lengths) + np.arange(ends[-1] if len(ends) else 0)
        return self._rows_by_key.take(offsets).astype(np.int64)

    def search(self, query: np.ndarray, k: int, radius: int, *,
               enough: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` rows nearest to the packed ``query`` by Hamming distance, ties by ascending row.

        With ``enough`` (< k), a probed ball that holds at least ``enough`` rows but fewer than ``k``
        answers with all of them (the exact top of the ball's size) instead of a scan: for callers that
        need ``enough`` exact neighbours and take more when they come cheap.

        Probes the query's own bucket, then the buckets of every code within distance 1, then within
        ``radius``; stops as soon as one of these holds ``k`` rows, which makes the answer exact. When
        the widest holds fewer, or probing it would cost more than scanning every code, a FAISS scan
        answers instead, so the result is always the true top k.
        """
        rows, distances, _ = self._search(query, k, radius, enough or k, scan=True)
        return rows, distances

    def probe(self, query: np.ndarray, k: int, radius: int, enough: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(rows, distances, floor): ``search`` without its scan of every code. When no probed ball holds
        ``enough`` rows, the answer is every row of the widest (up to ``k``), fewer than asked; no row
        left out is nearer than ``floor`` bits, which is what a caller needs to decide that it can do
        without the scan. Where no ball is worth probing, the scan's exact top ``k``."""
        return self._search(query, k, radius, enough, scan=False)

    def _search(self, query: np.ndarray, k: int, radius: int, enough: int,
                scan: bool) -> tuple[np.ndarray, np.ndarray, int]:
        query = np.ascontiguousarray(query, dtype=np.uint8).reshape(-1)
        k = min(k, len(self.codes))
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), self.bits + 1
        widest = min(radius, self._widest_ball)
        if widest >= 0:
            query_key = codelib.bucket_key(query)
            if self._exact_keys:
                found = self._search_own_bucket(query_key, k)
                if found is not None:
                    self.stats.own_bucket += 1
                    return (*found, 0)
            # With exact keys the radius-0 ball is the own bucket, just found too small; folded keys go
            # straight to radius 1 when there is one.
            for ball_radius in probe_radii(widest, skip_zero=self._exact_keys or widest > 0):
                last = ball_radius == widest and not scan
                found = self._search_ball(query, query_key, k, ball_radius, 0 if last else enough)
                if found is not None:
                    self.stats.ball += 1
                    rows, distances = found
                    return rows, distances, int(distances[-1]) if len(rows) == k else ball_radius + 1
        rows, distances = self.scan(query, k)
        return rows, distances, int(distances[-1]) if len(rows) < len(self.codes) else self.bits + 1

    def _search_own_bucket(self, query_key: np.uint64, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The first ``k`` rows of the query's bucket when it holds that many (exact keys only); scalar
        steps, since most queries end here and numpy's per-call cost exceeds the work."""
        position = int(self._bucket_keys.searchsorted(query_key))
        if position < len(self._bucket_keys) and self._bucket_keys[position] == query_key:
            start = int(self._bucket_starts[position])
            if self._bucket_starts[position + 1] - start >= k:
                return self._rows_by_key[start:start + k].astype(np.int64), np.zeros(k, dtype=np.int64)
        return None

    def _search_ball(self, query: np.ndarray, query_key: np.uint64, k: int, radius: int,
                     enough: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The exact top ``k`` (or all, when fewer) of the ball of ``radius`` around ``query`` when it holds
        at least ``enough`` rows, else None."""
        positions = self._bucket_positions(query_key ^ codelib.ball_keys(self.bits, radius))
        if self._exact_keys and len(positions) <= self.strategy.few_buckets:
            return self._rank_few_buckets(positions, int(query_key), k, enough)
        starts, lengths = self._bucket_spans(positions)
        if lengths.sum() < enough:  # folded keys can only find fewer rows than this
            return None
        if self._exact_keys:
            # A bucket's rows ascend, so past its first k none can be among the top k; its key is its code.
            lengths = np.minimum(lengths, k)
            rows = self._ranges(starts, lengths)
            distances = np.repeat(np.bitwise_count(self._bucket_keys.take(positions) ^ query_key), lengths)
        else:
            # Folded keys may collide: a matched bucket can hold codes outside the ball.
            rows = self._ranges(starts, lengths)
            distances = self.distances(query, rows)
            rows, distances = rows[distances <= radius], distances[distances <= radius]
            if len(rows) < enough:
                return None
        order = np.lexsort((rows, distances))[:k]
        return rows[order], distances[order].astype(np.int64)

    def _rank_few_buckets(self, positions: np.ndarray, query_key: int, k: int,
                          enough: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``_search_ball``'s ranking for a few buckets with exact keys, in plain Python: each row becomes
        one integer, distance * n + row, whose order is the result's (nearest first, then ascending row)."""
        n = len(self.codes)
        ranked: list[int] = []
        for position in positions.tolist():
            start = int(self._bucket_starts[position])
            stop = min(int(self._bucket_starts[position + 1]), start + k)  # past its first k, no row can rank
            offset = (int(self._bucket_keys[position]) ^ query_key).bit_count() * n
            ranked += [offset + row for row in self._rows_by_key[start:stop].tolist()]
        if len(ranked) < enough:
            return None
        distances, rows = np.divmod(np.array(sorted(ranked)[:k], dtype=np.int64), n)
        return rows, distances

    def search_allowed(self, query: np.ndarray, allowed: np.ndarray, n_allowed: int, k: int, radius: int,
                       enough: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The exact top ``k`` (or all, when fewer) of the ``n_allowed`` allowed rows (a mask) in the
        narrowest probed ball that holds at least ``enough`` of them, else None (also when probing
        would cost more than scanning the allowed rows): no allowed row outside a ball is nearer than
        those in it. For filters that match too many rows to scan quickly and too few to widen past
        the rest (``parts.nearest``)."""
        query = np.ascontiguousarray(query, dtype=np.uint8).reshape(-1)
        widest = min(radius, self._widest_ball_cheaper_than(n_allowed))
        if widest < 0:
            return None
        query_key = codelib.bucket_key(query)
        for ball_radius in probe_radii(widest, skip_zero=False):
            rows, distances = self._ball_rows(query, query_key, ball_radius, allowed)
            if len(rows) >= enough:
                self.stats.ball += 1
                order = np.lexsort((rows, distances))[:k]
                return rows[order], distances[order]
        return None

    def ball(self, query: np.ndarray, at_least: int, radius: int, allowed: np.ndarray | None = None,
             n_allowed: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """(rows, distances, reach): every allowed row (``allowed``: a mask of ``n_allowed`` rows; None:
        all) within distance D of the packed ``query``, D the least distance within which ``at_least``
        of them lie, whole buckets and every tie included, in no order; reach is D, or ``bits`` when
        there are fewer allowed rows than that (then all are given). Found in the balls probed within
        ``radius``, else by a scan."""
        query = np.ascontiguousarray(query, dtype=np.uint8).reshape(-1)
        n_allowed = len(self.codes) if allowed is None or n_allowed is None else n_allowed
        widest = self._widest_ball if allowed is None else self._widest_ball_cheaper_than(n_allowed)
        widest = min(radius, widest) if n_allowed > at_least else -1
        query_key = codelib.bucket_key(query)
        if widest >= 0 and self._exact_keys:  # most often the query's own bucket is enough: scalar steps
            position = int(self._bucket_keys.searchsorted(query_key))
            if position < len(self._bucket_keys) and self._bucket_keys[position] == query_key:
                rows: np.ndarray = self._rows_by_key[self._bucket_starts[position]:self._bucket_starts[position + 1]]
                rows = rows.astype(np.int64) if allowed is None else rows[allowed[rows]].astype(np.int64)
                if len(rows) >= at_least:
                    self.stats.own_bucket += 1
                    return rows, np.zeros(len(rows), dtype=np.int64), 0
        # With exact keys the radius-0 ball is the own bucket, just found too small.
        for ball_radius in probe_radii(widest, skip_zero=self._exact_keys):
            rows, distances = self._ball_rows(query, query_key, ball_radius, allowed)
            if len(rows) >= at_least:
                self.stats.ball += 1
                return _within_nearest(rows, distances, at_least, self.bits, everything=False)
        if allowed is None and len(self.codes) > self.strategy.numpy_scan_codes:
            rows, distances = self._scan_within(query, at_least)
        elif allowed is None:
            self.stats.numpy_scan += 1
            rows, distances = np.arange(len(self.codes), dtype=np.int64), codelib.hamming(query, self.codes)
        else:
            self.stats.numpy_scan += 1
            rows = np.flatnonzero(allowed)
            distances = self.distances(query, rows)
        # A scan of the bucket keys gives only the rows within reach: exactly ``at_least`` of them is no sign
        # that they are all.
        return _within_nearest(rows, distances, at_least, self.bits, everything=len(rows) == n_allowed)

    def _ball_rows(self, query: np.ndarray, query_key: np.uint64, radius: int,
                   allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, distances) of the allowed rows (a mask; None: all) whose codes lie within ``radius``."""
        rows = self._bucket_rows(self._bucket_positions(query_key ^ codelib.ball_keys(self.bits, radius)))
        if allowed is not None:
            rows = rows[allowed[rows]]
        distances = self.distances(query, rows)
        if not self._exact_keys:  # folded keys may collide: a matched bucket can hold codes outside the ball
            rows, distances = rows[distances <= radius], distances[distances <= radius]
        return rows, distances

    def _scan_within(self, query: np.ndarray, at_least: int,
                     most: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows (with distances) that hold every row within the distance of the ``at_least``-th nearest: by
        a scan of the bucket keys (``_buckets_within``; each bucket's first ``most`` rows, when given), or
        by a FAISS scan asked for a margin more, then, when ties run past it, a range search (FAISS picks
        arbitrarily among rows tied at its last distance)."""
        if self._scans_buckets:
            self.stats.bucket_scan += 1
            return self._rows_of_buckets(*self._buckets_within(codelib.bucket_key(query), at_least), most=most)
        self.stats.faiss_scan += 1
        query, flat = query.reshape(1, -1), self._flat_index()
        distances, rows = flat.search(query, min(len(self.codes), at_least + self.strategy.scan_tie_margin))
        distances, rows = distances[0].astype(np.int64), rows[0].astype(np.int64)
        if len(rows) < len(self.codes) and distances[-1] == distances[at_least - 1]:  # else every row is there
            limits, distances, rows = flat.range_search(query, int(distances[at_least - 1]) + 1)
            span = slice(int(limits[0]), int(limits[1]))
            distances, rows = distances[span].astype(np.int64), rows[span].astype(np.int64)
        return rows, distances

    def _rows_of_buckets(self, positions: np.ndarray, distances: np.ndarray,
                         most: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, int64 distances) of the buckets at ``positions`` (each its first ``most`` rows, when
        given), each row at its bucket's distance."""
        starts, lengths = self._bucket_spans(positions)
        if most is not None:
            lengths = np.minimum(lengths, most)
        return self._ranges(starts, lengths), np.repeat(distances.astype(np.int64), lengths)

    def _buckets_within(self, query_key: np.uint64, at_least: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions, distances) of the buckets within the least distance that holds ``at_least`` rows
        (all, when fewer), by a scan of the bucket keys, which are the codes themselves (exact keys): one
        popcount a distinct code. Their rows are counted first among the buckets within
        ``strategy.scan_near_buckets``, which most often hold enough, else among all."""
        distances = np.bitwise_count(self._bucket_keys ^ query_key)
        positions = np.flatnonzero(distances <= self.strategy.scan_near_buckets)
        sizes = self._bucket_spans(positions)[1]
        if sizes.sum() < at_least:
            positions = np.arange(len(self._bucket_keys))
            sizes = self._bucket_spans(positions)[1]
        counts = np.bincount(distances[positions], weights=sizes, minlength=self.bits + 1)
        reach = int(np.searchsorted(np.cumsum(counts), at_least))
        positions = positions[distances[positions] <= reach]
        return positions, distances[positions]

    def distances(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Hamming distances (int64) from the packed ``query`` to the codes of ``rows``."""
        query_words = np.ascontiguousarray(query, dtype=np.uint8).reshape(-1).view(self._words.dtype)
        if self._words.ndim == 1:
            return np.bitwise_count(self._words.take(rows) ^ query_words[0]).astype(np.int64)
        return np.bitwise_count(self._words.take(rows, axis=0) ^ query_words).sum(axis=1, dtype=np.int64)

    def search_among(self, query: np.ndarray, rows: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` of ``rows`` (ascending; None: all) nearest the packed ``query``, ties by ascending
        row, by one numpy scan of their codes: for filters, whose matching rows are scanned directly
        (exact whatever share of the index they hold), and for small indexes."""
        rows = np.arange(len(self.codes)) if rows is None else rows
        if k <= 0 or not len(rows):
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        query = np.ascontiguousarray(query, dtype=np.uint8).reshape(-1)
        distances = codelib.hamming(query, self.codes) if len(rows) == len(self.codes) else self.distances(query, rows)
        if len(rows) > k:
            # The k-th distance from a count of each distance: one pass, where a partition took six times
            # as long (100,000 distances: 0.15 against 0.93 ms).
            kth = int(np.searchsorted(np.cumsum(np.bincount(distances, minlength=self.bits + 1)), k))
            chosen = np.flatnonzero(distances <= kth)
            rows, distances = rows[chosen], distances[chosen]
        order = np.lexsort((rows, distances))[:k]
        return rows[order].astype(np.int64), distances[order]

    def scan(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``k`` of every code, ties at the k-th distance resolved by ascending row: by numpy on
        a small index, else from the rows within the k-th distance (``_scan_within``: the bucket keys, each
        bucket within reach giving its first ``k`` rows, as its rows ascend; or FAISS), ordered here."""
        if len(self.codes) <= self.strategy.numpy_scan_codes:
            self.stats.numpy_scan += 1
            return self.search_among(query, None, k)
        k = min(k, len(self.codes))
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        rows, distances = self._scan_within(np.ascontiguousarray(query, dtype=np.uint8).reshape(-1), k, most=k)
        order = np.lexsort((rows, distances))[:k]
        return rows[order], distances[order]


def _within_nearest(rows: np.ndarray, distances: np.ndarray, at_least: int, bits: int, *,
                    everything: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """``CodeIndex.ball``'s answer from ``at_least`` or more rows that hold every allowed row within
    their farthest distance (``everything``: all allowed rows, perhaps fewer)."""
    if everything and len(rows) <= at_least:
        return rows.astype(np.int64), distances, bits
    reach = int(np.searchsorted(np.cumsum(np.bincount(distances, minlength=bits + 1)), at_least))
    within = distances <= reach
    return rows[within].astype(np.int64), distances[within], reach
