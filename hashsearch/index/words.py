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
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from hashsearch.text.features import BM25_B, BM25_K1

POSTINGS_PER_WORD = 2000
_PACKED_ROWS = 2**24  # up to this many documents a posting's sort key holds its row
_IMPACT_LEVELS = 255  # a posting's BM25 term frequency is stored in one byte
_MAX_COUNT = 255


def word_hashes(terms: Mapping[bytes, int]) -> dict[int, int]:
    """word hash -> count, over a text's terms (``analysis.Analyzer.terms``, counted).

    Unlike the model's vocabulary, words here keep their digits: "486dx" or "1993" in a title is what
    finds that document."""
    hashes: dict[int, int] = {}
    for term, count in terms.items():
        key = zlib.crc32(term)
        hashes[key] = hashes.get(key, 0) + count
    return hashes


def query_hashes(terms: Iterable[bytes]) -> np.ndarray:
    """The distinct word hashes (uint32) of a query given as its terms, as the word index knows words,
    in the order they first occur."""
    return np.fromiter(dict.fromkeys(map(zlib.crc32, terms)), dtype=np.uint32)


def query_words(terms: Iterable[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(distinct word hashes in the order they first occur, how often each occurs, float32) of a query
    given as its terms: BM25 counts a word the query repeats that many times (a long query's repeated
    words are its subject)."""
    counts = Counter(map(zlib.crc32, terms))
    return (np.fromiter(counts, dtype=np.uint32, count=len(counts)),
            np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))


def encode_words(terms: Iterable[bytes]) -> bytes:
    """A document's word counts as stored, from its terms: n uint32 word hashes (ascending), then n uint8
    counts."""
    counts = word_hashes(Counter(terms))
    hashes = sorted(counts)
    return np.array(hashes, dtype="<u4").tobytes() + bytes([min(counts[h], _MAX_COUNT) for h in hashes])


class _Pairs:
    """The (word, document) pairs of many ``encode_words`` blobs, decoded a chunk of documents at a time.

    At 1M documents there are 85 million pairs: decoding and scoring them chunk by chunk keeps the
    temporary arrays small, and fresh memory is what building costs most (the first touch of a page)."""

    CHUNK = 1 << 16  # documents

    def __init__(self, blobs: Sequence[bytes]) -> None:
        self.sizes = np.fromiter((len(blob) for blob in blobs), dtype=np.int64, count=len(blobs)) // 5
        self.ends = np.cumsum(self.sizes)
        self.starts = self.ends - self.sizes
        self.total = int(self.ends[-1]) if len(self.ends) else 0
        self._bytes = np.frombuffer(b"".join(blobs), dtype=np.uint8)

    def chunks(self) -> Iterator[tuple[slice, slice]]:
        """(documents, pairs) slices, chunk by chunk."""
        for first in range(0, len(self.sizes), self.CHUNK):
            last = min(first + self.CHUNK, len(self.sizes))
            yield slice(first, last), slice(int(self.starts[first]), int(self.ends[last - 1]))

    def counts(self, docs: slice, pairs: slice) -> np.ndarray:
        # Pair p of a document ending at pair e is stored at byte 4 e + p (its hash at start + 4 p).
        return self._bytes[np.repeat(4 * self.ends[docs], self.sizes[docs]) + np.arange(pairs.start, pairs.stop)]

    def hashes(self, docs: slice, pairs: slice) -> np.ndarray:
        at = np.repeat(self.starts[docs], self.sizes[docs]) + 4 * np.arange(pairs.start, pairs.stop)
        hashes = self._bytes[at].astype(np.uint32)
        for byte in (1, 2, 3):  # little-endian
            hashes |= self._bytes[at + byte].astype(np.uint32) << np.uint32(8 * byte)
        return hashes


def document_pairs(blobs: Sequence[bytes]) -> Iterator[tuple[slice, np.ndarray, np.ndarray, np.ndarray]]:
    """(documents, word hashes, counts, pairs per document) of ``encode_words`` blobs, a chunk of
    documents at a time."""
    pairs = _Pairs(blobs)
    for docs, span in pairs.chunks():
        yield docs, pairs.hashes(docs, span), pairs.counts(docs, span), pairs.sizes[docs]


def _lengths(pairs: _Pairs) -> np.ndarray:
    """Each document's length in words."""
    lengths = np.zeros(len(pairs.sizes), dtype=np.float64)
    for docs, span in pairs.chunks():
        nonempty = np.flatnonzero(pairs.sizes[docs]) + docs.start
        if len(nonempty):
            lengths[nonempty] = np.add.reduceat(pairs.counts(docs, span), pairs.starts[nonempty] - span.start,
                                                dtype=np.int64)
    return lengths


def _impacts(counts: np.ndarray, saturation: np.ndarray) -> np.ndarray:
    """BM25 term frequency, count * (k1 + 1) / (count + saturation), in (0, k1 + 1), as a byte >= 1."""
    frequency = counts.astype(np.float32)
    return np.maximum(np.rint(frequency * _IMPACT_LEVELS / (frequency + saturation)), 1).astype(np.uint8)


class WordIndex:
    """Impact-ordered posting lists over the documents' stored word counts; immutable once built.

    ``blobs[i]`` belongs to row ``rows[i]`` (the caller's row numbering, which is the code index's).
    With a ``reference`` (the index of a larger set these documents join), BM25's statistics, the
    mean length and each word's document frequency, are the two sets' together, so that scores from
    both indexes compare."""

    def __init__(self, blobs: Sequence[bytes], rows: np.ndarray, *, postings_per_word: int = POSTINGS_PER_WORD,
                 reference: WordIndex | None = None):
        self.n_documents = len(blobs)
        pairs = _Pairs(blobs)
        rows = np.asarray(rows, dtype=np.int64)
        lengths = _lengths(pairs)
        if reference is None:
            self.corpus_size_ = self.n_documents
            self.mean_length_ = max(float(lengths.mean()), 1.0) if len(lengths) else 1.0
        else:
            self.corpus_size_ = self.n_documents + reference.corpus_size_
            self.mean_length_ = reference.mean_length_
        saturations = (BM25_K1 * (1 - BM25_B + BM25_B * lengths / self.mean_length_)).astype(np.float32)
        # One sort orders the postings by word, then strongest first, then ascending row (the tie-break):
        # word hash, inverted impact and row packed into one 64-bit key (rows must fit in 24 bits).
        packed = self.n_documents <= _PACKED_ROWS
        keys = np.empty(pairs.total, dtype=np.uint64)
        if not packed:
            impacts, doc_rows = np.empty(pairs.total, dtype=np.uint8), np.empty(pairs.total, dtype=np.int64)
        for docs, span in pairs.chunks():
            impact = _impacts(pairs.counts(docs, span), np.repeat(saturations[docs], pairs.sizes[docs]))
            chunk_rows = np.repeat(rows[docs], pairs.sizes[docs])
            keys[span] = pairs.hashes(docs, span)
            keys[span] <<= np.uint64(32)
            if packed:
                keys[span] |= (((_IMPACT_LEVELS - impact).astype(np.uint64) << np.uint64(24))
                               | chunk_rows.astype(np.uint64))
            else:
                impacts[span], doc_rows[span] = impact, chunk_rows
        if packed:
            keys.sort()
        else:
            order = np.lexsort((doc_rows, _IMPACT_LEVELS - impacts.astype(np.int64), keys))
            keys, impacts, doc_rows = keys[order], impacts[order], doc_rows[order]
            del order
        word_hashes_sorted = (keys >> np.uint64(32)).astype(np.uint32)
        starts = np.flatnonzero(np.concatenate(([True], word_hashes_sorted[1:] != word_hashes_sorted[:-1]))
                                [:len(word_hashes_sorted)])
        self.words_ = word_hashes_sorted[starts]
        del word_hashes_sorted
        df = np.diff(np.append(starts, len(keys)))  # (word, document) pairs are unique
        # Each word's document frequency in the corpus, this index's documents and the reference's.
        self.df_ = (df + (reference.frequencies(self.words_) if reference is not None else 0)).astype(np.int32)
        kept = np.minimum(df, postings_per_word)
        self._starts = np.concatenate([[0], np.cumsum(kept)]).astype(np.int64)
        # Each word's first ``kept`` postings, gathered without a mask over all pairs.
        positions = np.repeat(starts - self._starts[:-1], kept) + np.arange(self._starts[-1])
        row_type = np.int32 if self.n_documents < 2**31 else np.int64
        if packed:
            kept_keys = keys.take(positions)
            self._rows = (kept_keys & np.uint64(0xFF_FFFF)).astype(row_type)
            self._impacts = (_IMPACT_LEVELS - ((kept_keys >> np.uint64(24)) & np.uint64(0xFF))).astype(np.uint8)
        else:
            self._rows, self._impacts = doc_rows.take(positions).astype(row_type), impacts.take(positions)
        self._local = threading.local()

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything the index is, as arrays: what ``from_arrays`` takes to make it again."""
        return {"rows": self._rows, "impacts": self._impacts, "starts": self._starts, "words": self.words_,
                "df": self.df_, "sizes": np.array([self.n_documents, self.corpus_size_], dtype=np.int64),
                "mean_length": np.array([self.mean_length_])}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> WordIndex:
        """The index ``arrays()`` gave, in the time it takes to read them (a build at 1M documents sorts
        85 million postings)."""
        index = cls.__new__(cls)
        index.n_documents, index.corpus_size_ = (int(size) for size in arrays["sizes"])
        index.mean_length_ = float(arrays["mean_length"][0])
        index._rows, index._impacts, index._starts = arrays["rows"], arrays["impacts"], arrays["starts"]
        index.words_, index.df_ = arrays["words"], arrays["df"]
        index._local = threading.local()
        return index

    def shard(self, rows: np.ndarray) -> WordIndex:
        """The index of the documents at ``rows`` (ascending), numbered 0 on in that order: each posting
        list restricted to them, with this index's statistics (document count, mean length, document
        frequencies) and its postings cut. A shard's scores are this index's, so that shards' hits merge
        by score (how an index split across machines would keep its BM25 statistics global)."""
        rows = np.asarray(rows, dtype=np.int64)
        number = np.full(self.n_documents, -1, dtype=np.int64)
        number[rows] = np.arange(len(rows))
        kept = number[self._rows] >= 0
        per_word = np.add.reduceat(kept.astype(np.int64), self._starts[:-1]) if len(kept) else kept.astype(np.int64)
        per_word[np.diff(self._starts) == 0] = 0  # reduceat gives an empty list's next value
        arrays = {**self.arrays(), "rows": number[self._rows[kept]].astype(self._rows.dtype),
                  "impacts": self._impacts[kept], "starts": np.concatenate([[0], np.cumsum(per_word)]).astype(np.int64),
                  "sizes": np.array([len(rows), self.corpus_size_], dtype=np.int64)}
        return WordIndex.from_arrays(arrays)

    @property
    def nbytes(self) -> int:
        return (self._rows.nbytes + self._impacts.nbytes + self._starts.nbytes + self.words_.nbytes
                + self.df_.nbytes)

    def idf(self, words: np.ndarray) -> np.ndarray:
        """BM25's idf (never negative) of the words at these positions."""
        df = self.df_.take(words).astype(np.float64)
        return np.log1p((max(self.corpus_size_, 1) - df + 0.5) / (df + 0.5)).astype(np.float32)

    def locate(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in ``words_`` of the word hashes some document holds, which of ``hashes`` those
        are): one binary search for both."""
        positions = self.words_.searchsorted(hashes)
        held = self.words_.take(positions, mode="clip") == hashes if len(self.words_) else np.zeros(len(hashes), bool)
        return positions[held], held

    def positions(self, hashes: np.ndarray) -> np.ndarray:
        """Positions (in ``words_``) of the word hashes that some document holds."""
        return self.locate(hashes)[0]

    def frequencies(self, hashes: np.ndarray) -> np.ndarray:
        """Each word hash's document frequency (0 for a word no document holds)."""
        positions, held = self.locate(hashes)
        df = np.zeros(len(hashes), dtype=np.int64)
        df[held] = self.df_.take(positions)
        return df

    def scores(self, words: np.ndarray, *, allowed: np.ndarray | None = None,
               counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, BM25 scores) of every document in the posting lists of ``words`` (positions), each row
        once, in no order. ``allowed`` (a mask over rows) keeps the other rows out; ``counts`` (float32,
        one per word) is how often the query holds each word (once when not given).

        Scores add up in a per-thread array over all rows, where a zero also marks a row not seen yet
        (every posting's impact is at least 1): no sort is needed (merging ten lists of 2,000 rows by
        sorting took 0.7 ms, most of a query's time)."""
        totals = self._scratch()
        found = []
        scales = self.idf(words) * np.float32((BM25_K1 + 1) / _IMPACT_LEVELS)
        if counts is not None:
            scales *= counts
        try:
            for word, scale in zip(np.asarray(words).tolist(), scales.tolist(), strict=False):
                start, stop = int(self._starts[word]), int(self._starts[word + 1])
                rows, impacts = self._rows[start:stop].astype(np.intp), self._impacts[start:stop]
                if allowed is not None:
                    keep = allowed[rows]
                    rows, impacts = rows[keep], impacts[keep]
                current = totals[rows]  # a word's rows are unique: gather, add, scatter
                found.append(rows[current == 0])
                current += impacts * np.float32(scale)
                totals[rows] = current
            rows = np.concatenate(found).astype(np.int64, copy=False) if found else np.empty(0, dtype=np.int64)
            return rows, totals[rows]
        finally:
            for rows in found:
                totals[rows] = 0

    def put_first(self, rows: np.ndarray, scores: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``scores``' (rows, scores) with the rows ``first`` (distinct) in front, in their order, each row
        once; a row of ``first`` that ``rows`` lacks scores 0."""
        totals = self._scratch()
        try:
            totals[first] = -1  # marks them: no score is negative
            listed = totals[rows] == -1
            totals[rows[listed]] = scores[listed]
            first_scores = totals[first]
            first_scores[first_scores == -1] = 0
            rest = ~listed
            return np.concatenate([first, rows[rest]]), np.concatenate([first_scores, scores[rest]])
        finally:
            totals[first] = 0

    def _scratch(self) -> np.ndarray:
        """This thread's score array (4 bytes a document), all zero between calls."""
        totals = getattr(self._local, "totals", None)
        if totals is None:
            totals = self._local.totals = np.zeros(self.n_documents, dtype=np.float32)
        return totals

    def rarest(self, words: np.ndarray, limit: int) -> np.ndarray:
        """Which of ``words`` (positions into it) are the ``limit`` with the highest idf (ties by position):
        a long query's identifying words, so that its cost stays that of a short one."""
        if len(words) <= limit:
            return np.arange(len(words))
        return np.lexsort((words, self.df_.take(words)))[:limit]
