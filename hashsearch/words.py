"""The word index: which documents hold a query's words, and how strongly (BM25), kept in memory.

The codes know topics, not words: five typed words or a document's title make a weak code, and every
document in one bucket shares a code. This index answers the words. It covers every word of every
document (no vocabulary cap: a rare name in a title is exactly what finds that document), with words
identified by a 32-bit hash so that no vocabulary has to be learned, stored or kept in step between
processes. Each document's word counts are stored beside its code (``encode_words``); opening an
index builds, from those, impact-ordered posting lists: for each word, its documents by descending
BM25 term frequency, cut at ``POSTINGS_PER_WORD`` (static pruning: a word in more documents than that
is a common word whose weaker postings add little, and the cut bounds both memory and query time).
"""
from __future__ import annotations

import threading
import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np
from .features import BM25_B, BM25_K1, WORD_RUNS

POSTINGS_PER_WORD = 2000
_IMPACT_LEVELS = 255  # a posting's BM25 term frequency is stored in one byte
_MAX_COUNT = 255


def word_hashes(text: str) -> Counter:
    """word hash -> count, over the text's runs of two or more word characters, lower-cased.

    Unlike the model's vocabulary, words here keep their digits and no stop words are dropped: idf
    already makes common words count little, and "486dx", "1993", "computer" or "fire" in a title are
    what finds that document (scikit-learn's stop-word list holds the last two). On 20 Newsgroups,
    titles found their own post in the top 10 for 0.936 of 500 posts with letters only and stop words
    dropped, 0.950 with digits kept, 0.958 with stop words kept too."""
    return Counter(zlib.crc32(word.encode("utf-8")) for word in WORD_RUNS.findall(text.lower()))


def encode_words(text: str) -> bytes:
    """A document's word counts as stored: n uint32 word hashes (ascending), then n uint8 counts."""
    counts = word_hashes(text)
    hashes = np.array(sorted(counts), dtype="<u4")
    return hashes.tobytes() + np.array([min(counts[h], _MAX_COUNT) for h in hashes.tolist()], dtype=np.uint8).tobytes()


def _split_blobs(blobs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(words per document, all hashes, all counts) from ``encode_words`` blobs."""
    sizes = np.array([len(blob) // 5 for blob in blobs], dtype=np.int64)
    hashes = np.frombuffer(b"".join([blob[:4 * n] for blob, n in zip(blobs, sizes.tolist())]), dtype="<u4")
    counts = np.frombuffer(b"".join([blob[4 * n:] for blob, n in zip(blobs, sizes.tolist())]), dtype=np.uint8)
    return sizes, hashes, counts


class WordIndex:
    """Impact-ordered posting lists over the documents' stored word counts; immutable once built.

    ``blobs[i]`` belongs to row ``rows[i]`` (the caller's row numbering, which is the code index's)."""

    def __init__(self, blobs: Sequence[bytes], rows: np.ndarray, *, postings_per_word: int = POSTINGS_PER_WORD):
        self.n_documents = len(blobs)
        sizes, hashes, counts = _split_blobs(blobs)
        doc_rows = np.repeat(np.asarray(rows, dtype=np.uint32 if self.n_documents < 2**32 else np.int64), sizes)
        lengths = np.bincount(doc_rows, weights=counts, minlength=self.n_documents)
        mean_length = max(float(lengths.mean()), 1.0) if self.n_documents else 1.0
        counts = counts.astype(np.float32)
        saturation = BM25_K1 * (1 - BM25_B + BM25_B * lengths[doc_rows] / mean_length)
        term_frequency = counts * (BM25_K1 + 1) / (counts + saturation)  # in (0, k1 + 1)
        impact = np.maximum(np.rint(term_frequency * (_IMPACT_LEVELS / (BM25_K1 + 1))), 1).astype(np.uint8)
        del counts, saturation, term_frequency
        # One sort orders the postings by word, then strongest first, then ascending row (the tie-break):
        # word hash, inverted impact and row packed into one 64-bit key while rows fit in 24 bits.
        if self.n_documents < 2**24:
            keys = np.sort((hashes.astype(np.uint64) << np.uint64(32))
                           | ((_IMPACT_LEVELS - impact).astype(np.uint64) << np.uint64(24)) | doc_rows)
            word_hashes_sorted = (keys >> np.uint64(32)).astype(np.uint32)
            impact_sorted = (_IMPACT_LEVELS - ((keys >> np.uint64(24)) & np.uint64(0xFF))).astype(np.uint8)
            rows_sorted = (keys & np.uint64(0xFF_FFFF)).astype(np.int64)
            del keys
        else:
            order = np.lexsort((doc_rows, _IMPACT_LEVELS - impact.astype(np.int64), hashes))
            word_hashes_sorted, impact_sorted, rows_sorted = hashes[order], impact[order], doc_rows[order]
        starts = np.flatnonzero(np.concatenate(([True], word_hashes_sorted[1:] != word_hashes_sorted[:-1]))
                                [:len(word_hashes_sorted)])
        self.words_ = word_hashes_sorted[starts]
        df = np.diff(np.append(starts, len(word_hashes_sorted)))  # (word, document) pairs are unique
        n = max(self.n_documents, 1)
        self.idf_ = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)  # BM25's idf, never negative
        kept = np.arange(len(word_hashes_sorted)) - np.repeat(starts, df) < postings_per_word
        self._starts = np.concatenate([[0], np.cumsum(np.minimum(df, postings_per_word))]).astype(np.int64)
        self._rows = rows_sorted[kept].astype(np.int32 if self.n_documents < 2**31 else np.int64)
        self._impacts = impact_sorted[kept]
        self._local = threading.local()

    @property
    def nbytes(self) -> int:
        return (self._rows.nbytes + self._impacts.nbytes + self._starts.nbytes + self.words_.nbytes
                + self.idf_.nbytes)

    def query_words(self, text: str) -> np.ndarray:
        """Positions (in ``words_``) of the text's distinct words that some document holds."""
        return self._positions(np.fromiter(word_hashes(text), dtype=np.uint32))

    def stored_words(self, blob: bytes) -> np.ndarray:
        """``query_words`` of a stored document, from its ``encode_words`` blob."""
        return self._positions(np.frombuffer(blob[:4 * (len(blob) // 5)], dtype="<u4").astype(np.uint32))

    def _positions(self, hashes: np.ndarray) -> np.ndarray:
        positions = self.words_.searchsorted(hashes)
        return positions[self.words_.take(positions, mode="clip") == hashes] if len(self.words_) else positions[:0]

    def scores(self, words: np.ndarray, *, allowed: np.ndarray | None = None,
               extra_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, BM25 scores) of every document in the posting lists of ``words`` (positions), and of
        every row of ``extra_rows`` (scoring 0 unless the lists hold it too); each row once, in no order.
        ``allowed`` (a mask over rows) keeps the other rows of the lists out.

        Scores add up in a per-thread array over all rows, where a zero also marks a row not seen yet
        (every posting's impact is at least 1): no sort is needed (merging ten lists of 2,000 rows by
        sorting took 0.7 ms, most of a query's time)."""
        totals = self._scratch()
        found = []
        try:
            for word in np.asarray(words).tolist():
                start, stop = int(self._starts[word]), int(self._starts[word + 1])
                rows, impacts = self._rows[start:stop], self._impacts[start:stop]
                if allowed is not None:
                    keep = allowed[rows]
                    rows, impacts = rows[keep], impacts[keep]
                current = totals[rows]  # a word's rows are unique: gather, add, scatter
                found.append(rows[current == 0])
                totals[rows] = current + impacts * (self.idf_[word] * ((BM25_K1 + 1) / _IMPACT_LEVELS))
            if extra_rows is not None:
                found.append(extra_rows[totals[extra_rows] == 0])
            rows = np.concatenate(found).astype(np.int64) if found else np.empty(0, dtype=np.int64)
            return rows, totals[rows]
        finally:
            for rows in found:
                totals[rows] = 0

    def _scratch(self) -> np.ndarray:
        """This thread's score array (4 bytes a document), all zero between calls."""
        totals = getattr(self._local, "totals", None)
        if totals is None:
            totals = self._local.totals = np.zeros(self.n_documents, dtype=np.float32)
        return totals

    def rarest(self, words: np.ndarray, limit: int) -> np.ndarray:
        """The ``limit`` words of ``words`` with the highest idf (ties by position): a long query's
        identifying words, so that its cost stays that of a short one."""
        if len(words) <= limit:
            return words
        return words[np.lexsort((words, -self.idf_.take(words)))[:limit]]
