"""Impact-ordered posting lists built from documents' word counts a batch at a time, in memory bounded by
a buffer and by what is kept, not by the corpus.

A word's posting list holds its documents by descending BM25 term frequency (the "impact", one byte),
ties by ascending row, cut at ``limit`` postings (``words.POSTINGS_PER_WORD``). Cutting a merge of cut
lists gives the cut of the whole, so pairs are gathered into a buffer, sorted and cut, then merged with
what is kept and cut again: at ten million documents (850 million word-document pairs) the kept lists
are a small share of the pairs, and the pairs never sit in memory together. Each word's document
frequency counts every pair, cut or not.

The order is one sort key per posting: word hash, inverted impact and row packed into 64 bits while rows
fit in 24 bits (``PACKED_ROWS`` documents); past that, the row is sorted on as a second key.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hashsearch.text.features import BM25_B, BM25_K1

PACKED_ROWS = 2**24  # up to this many documents a posting's sort key holds its row
IMPACT_LEVELS = 255  # a posting's BM25 term frequency is stored in one byte
BUFFER_PAIRS = 1 << 25  # (word, document) pairs gathered before they are sorted and cut: 256 MB of keys
_CHUNK = 1 << 16  # documents decoded at a time


class Pairs:
    """The (word, document) pairs of many ``words.encode_words`` blobs, decoded a chunk of documents at a time.

    At 1M documents there are 85 million pairs: decoding and scoring them chunk by chunk keeps the
    temporary arrays small, and fresh memory is what building costs most (the first touch of a page)."""

    def __init__(self, blobs: Sequence[bytes]) -> None:
        self.sizes = np.fromiter((len(blob) for blob in blobs), dtype=np.int64, count=len(blobs)) // 5
        self.ends = np.cumsum(self.sizes)
        self.starts = self.ends - self.sizes
        self.total = int(self.ends[-1]) if len(self.ends) else 0
        self._bytes = np.frombuffer(b"".join(blobs), dtype=np.uint8)

    def chunks(self) -> list[tuple[slice, slice]]:
        """(documents, pairs) slices, chunk by chunk."""
        out = []
        for first in range(0, len(self.sizes), _CHUNK):
            last = min(first + _CHUNK, len(self.sizes))
            out.append((slice(first, last), slice(int(self.starts[first]), int(self.ends[last - 1]))))
        return out

    def counts(self, docs: slice, pairs: slice) -> np.ndarray:
        # Pair p of a document ending at pair e is stored at byte 4 e + p (its hash at start + 4 p).
        return self._bytes[np.repeat(4 * self.ends[docs], self.sizes[docs]) + np.arange(pairs.start, pairs.stop)]

    def hashes(self, docs: slice, pairs: slice) -> np.ndarray:
        at = np.repeat(self.starts[docs], self.sizes[docs]) + 4 * np.arange(pairs.start, pairs.stop)
        hashes = self._bytes[at].astype(np.uint32)
        for byte in (1, 2, 3):  # little-endian
            hashes |= self._bytes[at + byte].astype(np.uint32) << np.uint32(8 * byte)
        return hashes

    def lengths(self) -> np.ndarray:
        """Each document's length in words (float64, whole numbers)."""
        lengths = np.zeros(len(self.sizes), dtype=np.float64)
        for docs, span in self.chunks():
            nonempty = np.flatnonzero(self.sizes[docs]) + docs.start
            if len(nonempty):
                lengths[nonempty] = np.add.reduceat(self.counts(docs, span), self.starts[nonempty] - span.start,
                                                    dtype=np.int64)
        return lengths


def impacts(counts: np.ndarray, saturation: np.ndarray) -> np.ndarray:
    """BM25 term frequency, count * (k1 + 1) / (count + saturation), in (0, k1 + 1), as a byte >= 1."""
    frequency = counts.astype(np.float32)
    return np.maximum(np.rint(frequency * IMPACT_LEVELS / (frequency + saturation)), 1).astype(np.uint8)


class PostingsBuilder:
    """Posting lists of ``n_documents`` rows, fed a batch of documents at a time (``add``), each document
    once; ``finish`` returns them. ``mean_length`` is the corpus's mean document length (BM25's
    length normalisation), known before the first batch."""

    def __init__(self, n_documents: int, mean_length: float, *, limit: int, buffer_pairs: int = BUFFER_PAIRS):
        self.n_documents, self.mean_length, self.limit = n_documents, mean_length, limit
        self.packed = n_documents <= PACKED_ROWS
        self._buffer_pairs = buffer_pairs
        self._pending: list[tuple[np.ndarray, np.ndarray | None]] = []
        self._pending_pairs = 0
        self._kept: tuple[np.ndarray, np.ndarray | None] = (np.empty(0, np.uint64), None if self.packed else
                                                             np.empty(0, np.int64))
        self._df_words, self._df = np.empty(0, np.uint32), np.empty(0, np.int64)

    def add(self, pairs: Pairs, rows: np.ndarray, lengths: np.ndarray | None = None) -> None:
        """The documents of these pairs, at these rows (their ``lengths``: computed when not given)."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = pairs.lengths() if lengths is None else lengths
        saturations = (BM25_K1 * (1 - BM25_B + BM25_B * lengths / self.mean_length)).astype(np.float32)
        for docs, span in pairs.chunks():
            impact = impacts(pairs.counts(docs, span), np.repeat(saturations[docs], pairs.sizes[docs]))
            chunk_rows = np.repeat(rows[docs], pairs.sizes[docs])
            keys = pairs.hashes(docs, span).astype(np.uint64) << np.uint64(32)
            keys |= (IMPACT_LEVELS - impact).astype(np.uint64) << np.uint64(24)
            if self.packed:
                keys |= chunk_rows.astype(np.uint64)
            self._pending.append((keys, None if self.packed else chunk_rows))
            self._pending_pairs += len(keys)
            if self._pending_pairs >= self._buffer_pairs:
                self._flush()

    def _flush(self) -> None:
        """Sort and cut the buffered pairs (counting each word's documents first), then merge them into
        the kept postings and cut again."""
        if not self._pending:
            return
        keys = np.concatenate([keys for keys, _ in self._pending])
        rows = None if self.packed else np.concatenate([rows for _, rows in self._pending if rows is not None])
        self._pending, self._pending_pairs = [], 0
        keys, rows = self._sorted(keys, rows, merge=False)
        words, starts = _runs(keys)
        self._count(words, np.diff(np.append(starts, len(keys))))
        keys, rows = self._cut(keys, rows, words, starts)
        kept_keys, kept_rows = self._kept
        merged_rows = None if rows is None or kept_rows is None else np.concatenate([kept_rows, rows])
        keys, rows = self._sorted(np.concatenate([kept_keys, keys]), merged_rows, merge=True)
        self._kept = self._cut(keys, rows, *_runs(keys))

    @staticmethod
    def _sorted(keys: np.ndarray, rows: np.ndarray | None, *, merge: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Postings in order: by key (word, inverted impact, packed row), then by row when not packed.
        ``merge``: ``keys`` are two sorted runs, which a stable sort (timsort) joins in linear time."""
        if rows is None:
            return (np.sort(keys, kind="stable") if merge else np.sort(keys)), None
        order = np.lexsort((rows, keys))
        return keys[order], rows[order]

    def _count(self, words: np.ndarray, counts: np.ndarray) -> None:
        """Add each word's documents in a sorted buffer to the document frequencies."""
        together = np.concatenate([self._df_words, words])
        self._df_words, at = np.unique(together, return_inverse=True)
        self._df = np.bincount(at, weights=np.concatenate([self._df, counts]),
                               minlength=len(self._df_words)).astype(np.int64)

    def _cut(self, keys: np.ndarray, rows: np.ndarray | None, words: np.ndarray,
             starts: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Each word's first ``limit`` postings, gathered without a mask over all pairs."""
        lengths = np.diff(np.append(starts, len(keys)))
        if not len(lengths) or lengths.max() <= self.limit:
            return keys, rows
        kept = np.minimum(lengths, self.limit)
        ends = np.cumsum(kept)
        positions = np.repeat(starts - (ends - kept), kept) + np.arange(int(ends[-1]))
        return keys.take(positions), None if rows is None else rows.take(positions)

    def finish(self) -> dict[str, np.ndarray]:
        """The posting lists as ``WordIndex.arrays`` names them: rows, impacts, starts (each word's first
        posting), words (ascending hashes) and df (each word's document frequency)."""
        self._flush()
        keys, rows = self._kept
        words, starts = _runs(keys)
        row_type = np.int32 if self.n_documents < 2**31 else np.int64
        if rows is None:
            rows = keys & np.uint64(PACKED_ROWS - 1)
        return {"rows": rows.astype(row_type),
                "impacts": (IMPACT_LEVELS - ((keys >> np.uint64(24)) & np.uint64(0xFF))).astype(np.uint8),
                "starts": np.append(starts, len(keys)).astype(np.int64), "words": words,
                "df": self._df.astype(np.int32)}


def _runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct word hashes, where each one's postings start) of sorted posting keys."""
    hashes = (keys >> np.uint64(32)).astype(np.uint32)
    starts = np.flatnonzero(np.concatenate(([True], hashes[1:] != hashes[:-1]))[:len(hashes)])
    return hashes[starts], starts
