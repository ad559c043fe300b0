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

from hashsearch.index.postings import IMPACT_LEVELS, Pairs, PostingsBuilder
from hashsearch.text.features import BM25_K1

POSTINGS_PER_WORD = 2000
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


def document_pairs(blobs: Sequence[bytes]) -> Iterator[tuple[slice, np.ndarray, np.ndarray, np.ndarray]]:
    """(documents, word hashes, counts, pairs per document) of ``encode_words`` blobs, a chunk of
    documents at a time."""
    pairs = Pairs(blobs)
    for docs, span in pairs.chunks():
        yield docs, pairs.hashes(docs, span), pairs.counts(docs, span), pairs.sizes[docs]


class WordIndex:
    """Impact-ordered posting lists over the documents' stored word counts; immutable once built.

    ``blobs[i]`` belongs to row ``rows[i]`` (the caller's row numbering, which is the code index's).
    With a ``reference`` (the index of a larger set these documents join), BM25's statistics, the
    mean length and each word's document frequency, are the two sets' together, so that scores from
    both indexes compare."""

    def __init__(self, blobs: Sequence[bytes], rows: np.ndarray, *, postings_per_word: int = POSTINGS_PER_WORD,
                 reference: WordIndex | None = None):
        self.n_documents = len(blobs)
        pairs = Pairs(blobs)
        lengths = pairs.lengths()
        if reference is None:
            corpus_size, mean_length = self.n_documents, max(float(lengths.mean()), 1.0) if len(lengths) else 1.0
        else:
            corpus_size, mean_length = self.n_documents + reference.corpus_size_, reference.mean_length_
        builder = PostingsBuilder(self.n_documents, mean_length, limit=postings_per_word)
        builder.add(pairs, rows, lengths)
        del pairs
        arrays = builder.finish()
        if reference is not None:  # each word's document frequency in this index's documents and the reference's
            arrays["df"] = (arrays["df"] + reference.frequencies(arrays["words"])).astype(np.int32)
        self._set(arrays, corpus_size, mean_length)

    def _set(self, arrays: Mapping[str, np.ndarray], corpus_size: int, mean_length: float) -> None:
        self.corpus_size_, self.mean_length_ = corpus_size, mean_length
        self._rows, self._impacts, self._starts = arrays["rows"], arrays["impacts"], arrays["starts"]
        self.words_, self.df_ = arrays["words"], arrays["df"]
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
        index.n_documents, corpus_size = (int(size) for size in arrays["sizes"])
        index._set(arrays, corpus_size, float(arrays["mean_length"][0]))
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

    def scores(self, words: np.ndarray, *, allowed: np.ndarray | None = None, counts: np.ndarray | None = None,
               reads: np.ndarray | None = None, budget: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, BM25 scores) of every document in the posting lists of ``words`` (positions), each row
        once, in no order. ``allowed`` (a mask over rows) keeps the other rows out; ``counts`` (float32,
        one per word) is how often the query holds each word (once when not given); ``reads`` (one per
        word) how many of each list's postings are read, its strongest (``reaching``; None: all), or
        ``budget``: the reads of this index alone (``reads``), each list filtered once.

        Scores add up in a per-thread array over all rows, where a zero also marks a row not seen yet
        (every posting's impact is at least 1): no sort is needed (merging ten lists of 2,000 rows by
        sorting took 0.7 ms, most of a query's time)."""
        scales = self.scales(words, counts)
        if allowed is None:
            if budget is not None:
                reads = self.reads(words, scales, budget)
            read = np.full(len(scales), len(self._rows)) if reads is None else reads
            lists = (self._postings(word, None, n) for word, n in zip(np.asarray(words).tolist(), read.tolist(),
                                                                       strict=True))
        else:
            gathered = [self._postings(word, allowed, len(self._rows)) for word in np.asarray(words).tolist()]
            if budget is not None:
                lengths = np.fromiter((len(rows) for rows, _ in gathered), dtype=np.int64, count=len(gathered))
                reads = None if lengths.sum() <= budget else _counted(
                    np.concatenate([impacts for _, impacts in gathered]) * np.repeat(scales, lengths), lengths,
                    budget)[0]
            read = np.full(len(scales), len(self._rows)) if reads is None else reads
            lists = ((rows[:n], impacts[:n]) for (rows, impacts), n in zip(gathered, read.tolist(), strict=True))
        return self._added(lists, scales)

    def _added(self, lists: Iterable[tuple[np.ndarray, np.ndarray]],
               scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``scores`` of the postings ``lists`` (rows, impacts; one list a word) with the words' ``scales``."""
        totals = self._scratch()
        found = []
        try:
            for (rows, impacts), scale in zip(lists, scales.tolist(), strict=True):
                if not len(rows):
                    continue
                rows = rows.astype(np.intp)
                current = totals[rows]  # a word's rows are unique: gather, add, scatter
                found.append(rows[current == 0])
                current += impacts * np.float32(scale)
                totals[rows] = current
            rows = np.concatenate(found).astype(np.int64, copy=False) if found else np.empty(0, dtype=np.int64)
            return rows, totals[rows]
        finally:
            for rows in found:
                totals[rows] = 0

    def _postings(self, word: int, allowed: np.ndarray | None, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, impacts) of the word's (a position) ``limit`` strongest postings of those ``allowed`` keeps."""
        start, stop = int(self._starts[word]), int(self._starts[word + 1])
        if allowed is None:
            stop = min(stop, start + limit)
            return self._rows[start:stop], self._impacts[start:stop]
        rows, impacts = self._rows[start:stop], self._impacts[start:stop]
        keep = allowed[rows]
        return rows[keep][:limit], impacts[keep][:limit]

    def scales(self, words: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
        """Each word's (positions) factor from a posting's impact to what it adds to a score (float32): its
        idf, BM25's k1 + 1 over the impact levels, and how often the query holds it (``counts``)."""
        scales = self.idf(words) * np.float32((BM25_K1 + 1) / IMPACT_LEVELS)
        return scales if counts is None else scales * counts

    def reads(self, words: np.ndarray, scales: np.ndarray, budget: int) -> np.ndarray | None:
        """``scores``' ``reads`` of a query that reads at most ``budget`` postings of this index alone, no
        row left out: each word's (positions) postings that add at least the ``budget``-th most
        (``nth_largest``) of all the words' postings, ties with it too (None: all, no more than that).

        No list's postings past its ``budget + 1`` strongest can be among them but by a tie: only those
        are gathered, and a longer list all of whose gathered postings reach the floor is counted whole."""
        starts = self._starts.take(words)
        lengths = self._starts.take(np.asarray(words) + 1) - starts
        if lengths.sum() <= budget:
            return None
        taken = np.minimum(lengths, budget + 1)
        reads, floor = _counted(self.contributions(words, scales, budget + 1), taken, budget)
        if (more := np.flatnonzero((reads == taken) & (lengths > taken))).size:  # ties past what was gathered
            reads[more] = self.reaching(np.asarray(words)[more], scales[more], floor)
        return reads

    def contributions(self, words: np.ndarray, scales: np.ndarray, limit: int,
                      allowed: np.ndarray | None = None) -> np.ndarray:
        """What each of the ``limit`` strongest postings of each word (positions; of those ``allowed``
        keeps) adds to a score, word after word, strongest first."""
        lists = [self._postings(word, allowed, limit)[1] for word in np.asarray(words).tolist()]
        lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        return (np.concatenate(lists) if lists else np.empty(0, dtype=np.uint8)) * np.repeat(scales, lengths)

    def reaching(self, words: np.ndarray, scales: np.ndarray, floor: np.float32,
                 allowed: np.ndarray | None = None) -> np.ndarray:
        """``reads``: how many postings of each word (positions; of those ``allowed`` keeps) add at least
        ``floor`` to a score."""
        reads = np.empty(len(scales), dtype=np.int64)
        for at, (word, scale) in enumerate(zip(np.asarray(words).tolist(), scales.tolist(), strict=True)):
            added = self._postings(word, allowed, len(self._rows))[1] * np.float32(scale)
            reads[at] = len(added) - int(np.searchsorted(added[::-1], floor))
        return reads

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


def nth_largest(values: np.ndarray, n: int, stride: int = 16) -> np.float32:
    """The ``n``-th largest of ``values`` (float32, at least ``n`` of them).

    Selecting among all of them costs more than a query's postings it spares: a bar comes first, the
    ``1.25 n / stride``-th largest of every ``stride``-th value, lowered until at least ``n`` values reach it
    (so that the ``n``-th largest does), and only those are selected from."""
    sample, rank, reach = values[::stride], max(n * 5 // (4 * stride), 1), values  # a quarter over: one pass
    while rank < len(sample):
        bar = np.partition(sample, len(sample) - rank)[len(sample) - rank]
        if np.count_nonzero(values >= bar) >= n:
            reach = values[values >= bar]
            break
        rank *= 2
    return np.float32(np.partition(reach, len(reach) - n)[len(reach) - n])


def _counted(added: np.ndarray, lengths: np.ndarray, budget: int) -> tuple[np.ndarray, np.float32]:
    """(how many of each word's postings add at least the floor, the floor): of what postings add to a
    score (``added``), gathered word after word (``lengths`` of each, strongest first; more than
    ``budget`` in all), the floor the ``budget``-th most any adds."""
    floor = nth_largest(added, budget)
    listed = np.flatnonzero(lengths)
    reads = np.zeros(len(lengths), dtype=np.int64)
    reads[listed] = np.add.reduceat((added >= floor).view(np.uint8), (np.cumsum(lengths) - lengths)[listed],
                                    dtype=np.int64)
    return reads, floor
