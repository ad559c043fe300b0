"""Text to sparse weighted term vectors (BM25 by default), with a vocabulary learned from the user's corpus.

Vectors stay scipy CSR matrices end to end: a 100k-document corpus densified over a 10k vocabulary
would take 4 GB. The learned state is a term list, an idf array and the mean document length, saved as JSON.
"""
from __future__ import annotations

import json
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hashsearch.errors import CorpusError, InvalidParameterError
from hashsearch.progress import progress
from hashsearch.text.analysis import DEFAULT_LANGUAGE, Analyzer, analyzer_from_dict
from hashsearch.text.counting import TermCounts

if TYPE_CHECKING:  # SciPy is imported where matrices are made: a search encodes one query without it
    import scipy.sparse as sp

FORMAT_VERSION = 3  # 3 added the text analysis; 2 the weighting and the mean document length; 1 was TF-IDF
WEIGHTINGS = ("bm25", "tfidf", "log")
BM25_K1, BM25_B = 1.2, 0.75  # the usual Okapi constants


def unit_length(weights: np.ndarray) -> np.ndarray:
    """One text's float32 weights scaled to unit length (none stay none)."""
    wide = weights.astype(np.float64)
    return (wide / (math.sqrt(wide @ wide) if len(wide) else 1.0)).astype(np.float32)


class TextFeatures:
    """Learns a vocabulary and idf weights; turns texts into L2-normalised weighted term rows.

    Terms must appear in at least ``min_df`` documents and in at most a ``max_df`` share of them;
    the ``max_features`` most frequent survivors are kept (ties by term). Terms are what the text analysis
    (``analysis.Analyzer`` for ``language``: folded, stop words dropped, stemmed) makes of a text; the
    vocabulary holds those of letters only.
    ``weighting`` sets a word's weight from its count in the text, each row then scaled to unit length:

        bm25   count * (k1 + 1) / (count + k1 * (1 - b + b * length / mean length)) * idf   (default)
        tfidf  count * idf
        log    (1 + ln count) * idf

    where length counts the text's vocabulary words. BM25 is the default because its saturating count
    made the best codes on 20 Newsgroups and was level on Reuters (benchmarks/RESULTS.md, weighting).
    """

    def __init__(self, *, max_features: int = 10_000, min_df: int = 2, max_df: float = 0.5,
                 weighting: str = "bm25", language: str | None = DEFAULT_LANGUAGE) -> None:
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.weighting = weighting
        self.language = language

    def check_params(self) -> None:
        """Raise InvalidParameterError naming the first parameter outside its allowed values."""
        if not isinstance(self.max_features, int) or self.max_features < 1:
            raise InvalidParameterError(f"max_features must be a positive int. Got {self.max_features!r} instead.")
        if not isinstance(self.min_df, int) or self.min_df < 1:
            raise InvalidParameterError(f"min_df must be an int >= 1. Got {self.min_df!r} instead.")
        if not 0.0 < self.max_df <= 1.0:
            raise InvalidParameterError(f"max_df must be a float in (0, 1]. Got {self.max_df!r} instead.")
        if self.weighting not in WEIGHTINGS:
            raise InvalidParameterError(f"weighting must be one of {', '.join(WEIGHTINGS)}. "
                                        f"Got {self.weighting!r} instead.")
        Analyzer(self.language)  # raises for a language it has no stemmer for

    def fit_transform(self, texts: Iterable[str], *, quiet: bool = True) -> sp.csr_matrix:
        """Learn the vocabulary, idf and mean length from ``texts`` and return their weighted matrix.

        One tokenizing pass counts every word of every text; the vocabulary is then a column selection.
        """
        self.check_params()
        texts = list(texts)
        self.new_analyzer()
        term_ids: dict[bytes, int] = {}
        columns, counts, indptr = array("i"), array("f"), array("q", [0])
        for text in progress(texts, desc="vectorizing", quiet=quiet, total=len(texts), unit="doc"):
            in_text = Counter(self.analyzer_.terms(text))
            columns.extend([term_ids.setdefault(term, len(term_ids)) for term in in_text])
            counts.extend(in_text.values())
            indptr.append(len(columns))
        all_columns = np.frombuffer(columns, dtype=np.int32)
        all_counts = np.frombuffer(counts, dtype=np.float32)
        document_frequency = np.bincount(all_columns, minlength=len(term_ids))  # a term is counted once per text
        term_frequency = np.bincount(all_columns, weights=all_counts, minlength=len(term_ids))
        kept_ids = self._fit_statistics(list(term_ids), document_frequency, term_frequency, len(texts))
        new_column = np.full(len(term_ids), -1, dtype=np.int32)
        new_column[kept_ids] = np.arange(len(self.vocabulary_))
        mapped = new_column[all_columns]
        known = mapped >= 0
        rows = np.repeat(np.arange(len(texts)), np.diff(np.frombuffer(indptr, dtype=np.int64)).astype(np.int64))
        import scipy.sparse as sp

        matrix = sp.csr_matrix((all_counts[known], (rows[known], mapped[known])),
                               shape=(len(texts), self.n_features), dtype=np.float32)
        matrix.sort_indices()
        return self._weighted(matrix.data, matrix.indices, matrix.indptr)

    def fit_counts(self, counts: TermCounts) -> TextFeatures:
        """Learn the vocabulary, idf and mean length from term statistics gathered over a stream
        (``counting.TermCounts`` of ``analyzer_``'s terms; make the analyzer with ``new_analyzer``):
        the same state ``fit_transform`` learns from the same texts, without holding them."""
        self.check_params()
        terms = list(counts.document_frequency)
        document_frequency = np.fromiter((counts.document_frequency[t] for t in terms), dtype=np.int64,
                                         count=len(terms))
        term_frequency = np.fromiter((counts.term_frequency[t] for t in terms), dtype=np.float64, count=len(terms))
        self._fit_statistics(terms, document_frequency, term_frequency, counts.texts)
        return self

    def new_analyzer(self) -> Analyzer:
        """The analysis a fit uses (``language``'s), kept as ``analyzer_``."""
        self.analyzer_ = Analyzer(self.language)
        return self.analyzer_

    def _fit_statistics(self, terms: list[bytes], document_frequency: np.ndarray, term_frequency: np.ndarray,
                        n_texts: int) -> list[int]:
        """Choose the vocabulary from each term's document and term frequency over ``n_texts`` texts and
        set ``vocabulary_``, ``idf_`` and ``mean_length_``; returns the positions in ``terms`` of the
        vocabulary's terms, in its order."""
        kept = self._choose_terms(terms, document_frequency, term_frequency, n_texts)
        if not kept:
            raise CorpusError("the documents contain no usable words (only stop words, numbers or "
                              "symbols). Index documents with some text in them.")
        self.vocabulary_ = sorted(kept)
        self._prepare()
        position = {term: i for i, term in enumerate(terms)}
        kept_ids = [position[term.encode("utf-8")] for term in self.vocabulary_]
        self.idf_ = (np.log((1 + n_texts) / (1 + document_frequency[kept_ids])) + 1).astype(np.float32)
        self.mean_length_ = float(term_frequency[kept_ids].sum()) / n_texts  # vocabulary words per text
        return kept_ids

    def _choose_terms(self, terms: list[bytes], document_frequency: np.ndarray, term_frequency: np.ndarray,
                      n_texts: int) -> list[str]:
        """Terms within min_df and max_df that a vocabulary may hold (``Analyzer.is_vocabulary_term``); the
        ``max_features`` most frequent (ties by term)."""
        # On a tiny corpus min_df=2 could drop everything; a term seen once is better than no terms.
        min_df, max_df = (self.min_df, self.max_df) if n_texts >= 50 else (1, 1.0)
        eligible = np.flatnonzero((document_frequency >= min_df) & (document_frequency <= max_df * n_texts))
        words = [(i, terms[i].decode("utf-8")) for i in eligible]
        candidates = [(-term_frequency[i], term) for i, term in words if self.analyzer_.is_vocabulary_term(term)]
        return [term for _, term in sorted(candidates)[:self.max_features]]

    def _prepare(self) -> None:
        self._column = {term: column for column, term in enumerate(self.vocabulary_)}
        self._byte_column = {term.encode("utf-8"): column for term, column in self._column.items()}

    def _row_counts(self, runs: Iterable[bytes]) -> Counter[int]:
        """column -> count of the vocabulary words among a text's terms (``analyzer_.terms``): each term mapped
        to its column and counted in C (a whole 20NG post in 18 instead of 24 us, counting the terms first)."""
        counts: Counter[int | None] = Counter(map(self._byte_column.get, runs))
        counts.pop(None, None)
        return counts  # type: ignore[return-value]  # None, the one key that is not a column, is gone

    def _count(self, term_lists: Iterable[Iterable[bytes]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(counts, columns, row pointers) of vocabulary words per text given as its terms, columns
        ascending in each row."""
        indptr, indices, counts = [0], [], []
        for terms in term_lists:
            row = self._row_counts(terms)
            columns = sorted(row)
            indices += columns
            counts += [row[column] for column in columns]
            indptr.append(len(indices))
        return (np.asarray(counts, dtype=np.float32), np.asarray(indices, dtype=np.int32),
                np.asarray(indptr, dtype=np.int64))

    def transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        """Weighted rows for new texts, with the learned vocabulary (unknown words are ignored)."""
        return self._weighted(*self._count(map(self.analyzer_.terms, texts)))

    def transform_terms(self, term_lists: Iterable[Iterable[bytes]]) -> sp.csr_matrix:
        """``transform`` of texts already cut into terms (``analyzer_.terms``): a build analyses each
        text once, for its row here and for its word counts."""
        return self._weighted(*self._count(term_lists))

    def terms(self, runs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(columns, weights) of one text given as its terms (``analyzer_.terms``): ``transform([text])``'s one row
        without the sparse matrix and the per-row bookkeeping, which cost more than the arithmetic for
        a query."""
        columns, data = self.weighted_terms(runs)
        return columns, unit_length(data)

    def weighted_terms(self, runs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """``terms`` before the row is scaled to unit length: columns ascending, float32 weights."""
        row = self._row_counts(runs)
        columns = np.fromiter(row, dtype=np.int32, count=len(row))
        counts = np.fromiter(row.values(), dtype=np.float32, count=len(row))
        order = columns.argsort()
        columns, counts = columns.take(order), counts.take(order)
        return columns, self.term_frequency(counts, np.float32(sum(row.values()))) * self.idf_.take(columns)

    def out_of_vocabulary_share(self, texts: Iterable[str], *, enough_terms: int | None = None) -> float:
        """Share of the terms a vocabulary could hold (stop words excluded) that this one does not know;
        with ``enough_terms``, of the texts read until that many terms were counted (5,000 know the
        share to about a point, whether the texts are titles or books; benchmarks/RESULTS.md)."""
        counts: Counter[bytes] = Counter()
        for text in texts:
            counts.update(self.analyzer_.terms(text))
            if enough_terms is not None and counts.total() >= enough_terms:
                break
        known = total = 0
        for term, count in counts.items():  # each distinct term judged once
            if self.analyzer_.is_vocabulary_term(term.decode()):
                total += count
                known += count if term in self._byte_column else 0
        return 0.0 if total == 0 else 1.0 - known / total

    def _weighted(self, counts: np.ndarray, indices: np.ndarray, indptr: np.ndarray) -> sp.csr_matrix:
        import scipy.sparse as sp

        return sp.csr_matrix((self._weights(counts, indices, indptr), indices, indptr),
                             shape=(len(indptr) - 1, self.n_features))

    def term_frequency(self, counts: np.ndarray, lengths: np.ndarray | np.float32) -> np.ndarray:
        """The weighting's term frequency for each float32 count; ``lengths`` are the texts' vocabulary
        words, float32 (one text's is a scalar: numpy's 0-d arrays cost a microsecond an operation)."""
        if self.weighting == "log":
            return (1 + np.log(counts)).astype(np.float32)
        if self.weighting == "bm25":
            saturation = BM25_K1 * (1 - BM25_B + BM25_B * lengths / self.mean_length_)
            return counts * (BM25_K1 + 1) / (counts + saturation)
        return counts

    def weighted_rows(self, counts: np.ndarray, indices: np.ndarray, indptr: np.ndarray) -> np.ndarray:
        """term frequency * idf of CSR float32 counts, before each row is scaled (``weighted_terms``' of
        each row)."""
        entries = np.diff(indptr)
        rows = np.repeat(np.arange(len(entries)), entries)
        lengths = np.bincount(rows, weights=counts, minlength=len(entries))[rows].astype(np.float32)
        return self.term_frequency(counts, lengths) * self.idf_[indices]

    def _weights(self, counts: np.ndarray, indices: np.ndarray, indptr: np.ndarray) -> np.ndarray:
        """term frequency * idf, each row scaled to unit length (rows without known words stay zero)."""
        data = self.weighted_rows(counts, indices, indptr)
        rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        norms = np.sqrt(np.bincount(rows, weights=data.astype(np.float64) ** 2, minlength=len(indptr) - 1))
        return (data / norms[rows]).astype(np.float32)

    @property
    def n_features(self) -> int:
        return len(self.vocabulary_)

    def to_json(self) -> str:
        state: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "params": {"max_features": self.max_features, "min_df": self.min_df, "max_df": self.max_df,
                       "weighting": self.weighting, "language": self.language},
            "analysis": self.analyzer_.to_dict(),
            "vocabulary": self.vocabulary_,
            "idf": self.idf_.tolist(),
            "mean_length": self.mean_length_,
        }
        return json.dumps(state)

    @classmethod
    def from_json(cls, payload: str) -> TextFeatures:
        state = json.loads(payload)
        version = state.get("format_version")
        if version not in (1, 2, FORMAT_VERSION):
            raise ValueError(f"unsupported vocabulary format {version!r}")
        # Version 1 predates the weighting option: its indexes were built with TF-IDF and stay so.
        # Versions 1 and 2 predate the text analysis: their indexes keep the analysis they were built with.
        features = cls(**{"weighting": "tfidf", "language": None, **state["params"]})
        features.analyzer_ = analyzer_from_dict(state.get("analysis"))
        features.vocabulary_ = list(state["vocabulary"])
        features.idf_ = np.asarray(state["idf"], dtype=np.float32)
        features.mean_length_ = float(state.get("mean_length", 1.0))
        features._prepare()
        return features
