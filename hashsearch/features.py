"""Text to sparse TF-IDF vectors, with a vocabulary learned from the user's corpus.

Vectors stay scipy CSR matrices end to end: a 100k-document corpus densified over a 10k vocabulary
would take 4 GB. The learned state is a term list and an idf array, saved as JSON.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from .errors import CorpusError, InvalidParameterError
from .progress import progress

FORMAT_VERSION = 1
# Runs of two or more letters: numbers and single letters carry little topic and bloat the vocabulary.
TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+\b"
ANALYZER = {"stop_words": "english", "token_pattern": TOKEN_PATTERN}  # one tokenizer for training and queries


class TextFeatures:
    """Learns a vocabulary and idf weights; turns texts into L2-normalised TF-IDF rows.

    Terms must appear in at least ``min_df`` documents and in at most a ``max_df`` share of them;
    the ``max_features`` most frequent survivors are kept. English stop words are dropped.
    """

    def __init__(self, *, max_features: int = 10_000, min_df: int = 2, max_df: float = 0.5) -> None:
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df

    def check_params(self) -> None:
        """Raise InvalidParameterError naming the first parameter outside its allowed values."""
        if not isinstance(self.max_features, int) or self.max_features < 1:
            raise InvalidParameterError(f"max_features must be a positive int. Got {self.max_features!r} instead.")
        if not isinstance(self.min_df, int) or self.min_df < 1:
            raise InvalidParameterError(f"min_df must be an int >= 1. Got {self.min_df!r} instead.")
        if not 0.0 < self.max_df <= 1.0:
            raise InvalidParameterError(f"max_df must be a float in (0, 1]. Got {self.max_df!r} instead.")

    def fit_transform(self, texts: Iterable[str], *, quiet: bool = True) -> sp.csr_matrix:
        """Learn the vocabulary and idf from ``texts`` and return their TF-IDF matrix."""
        self.check_params()
        texts = list(texts)
        # On a tiny corpus min_df=2 could drop everything; a term seen once is better than no terms.
        min_df = self.min_df if len(texts) >= 50 else 1
        counter = CountVectorizer(**ANALYZER, min_df=min_df,
                                  max_df=self.max_df if len(texts) >= 50 else 1.0,
                                  max_features=self.max_features, dtype=np.float32)
        try:
            counts = counter.fit_transform(progress(texts, desc="vectorizing", quiet=quiet,
                                                    total=len(texts), unit="doc"))
        except ValueError:
            raise CorpusError("the documents contain no usable words (only stop words, numbers or "
                              "symbols). Index documents with some text in them.") from None
        self.vocabulary_ = [str(term) for term in counter.get_feature_names_out()]
        document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
        self.idf_ = (np.log((1 + counts.shape[0]) / (1 + document_frequency)) + 1).astype(np.float32)
        self._prepare()
        return self._weight(sp.csr_matrix(counts, dtype=np.float32))

    def _prepare(self) -> None:
        self._analyze = CountVectorizer(**ANALYZER).build_analyzer()
        self._column = {term: column for column, term in enumerate(self.vocabulary_)}

    def transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        """TF-IDF rows for new texts, with the learned vocabulary (unknown words are ignored).

        Counts words with the same analyzer as training but without CountVectorizer.transform's
        per-call overhead: a one-line query costs tens of microseconds, not milliseconds.
        """
        indptr, indices, counts = [0], [], []
        for text in texts:
            row: dict[int, int] = {}
            for token in self._analyze(text):
                column = self._column.get(token)
                if column is not None:
                    row[column] = row.get(column, 0) + 1
            columns = sorted(row)
            indices += columns
            counts += [row[c] for c in columns]
            indptr.append(len(indices))
        matrix = sp.csr_matrix((np.asarray(counts, dtype=np.float32), np.asarray(indices, dtype=np.int32),
                                np.asarray(indptr, dtype=np.int64)), shape=(len(indptr) - 1, self.n_features))
        return self._weight(matrix)

    def out_of_vocabulary_share(self, texts: Iterable[str]) -> float:
        """Share of word tokens (stop words excluded) that the vocabulary does not know."""
        known = total = 0
        for text in texts:
            tokens = self._analyze(text)
            total += len(tokens)
            known += sum(token in self._column for token in tokens)
        return 0.0 if total == 0 else 1.0 - known / total

    def _weight(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """count * idf, then each row scaled to unit length (rows without known words stay zero)."""
        weighted = counts.copy()
        weighted.sort_indices()
        weighted.data = weighted.data * self.idf_[weighted.indices]
        lengths = np.diff(weighted.indptr)
        norms = np.sqrt(np.bincount(np.repeat(np.arange(weighted.shape[0]), lengths),
                                    weights=weighted.data.astype(np.float64) ** 2, minlength=weighted.shape[0]))
        weighted.data = (weighted.data / np.repeat(norms, lengths)).astype(np.float32)
        return weighted

    @staticmethod
    def row_bytes(X: sp.csr_matrix, row: int) -> bytes:
        """One sparse row as bytes (int32 column numbers, then float32 values), for storage beside the code."""
        start, stop = X.indptr[row], X.indptr[row + 1]
        return X.indices[start:stop].astype("<i4").tobytes() + X.data[start:stop].astype("<f4").tobytes()

    def rows_from_bytes(self, blobs: list[bytes]) -> sp.csr_matrix:
        """The inverse of ``row_bytes`` for several rows."""
        lengths = [len(blob) // 8 for blob in blobs]
        empty = [np.empty(0, "<i4")]
        indices = np.concatenate([np.frombuffer(b[: n * 4], "<i4") for b, n in zip(blobs, lengths)] or empty)
        data = np.concatenate([np.frombuffer(b[n * 4:], "<f4") for b, n in zip(blobs, lengths)] or empty)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        return sp.csr_matrix((data, indices, indptr), shape=(len(blobs), self.n_features))

    @property
    def n_features(self) -> int:
        return len(self.vocabulary_)

    def to_json(self) -> str:
        state: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "params": {"max_features": self.max_features, "min_df": self.min_df, "max_df": self.max_df},
            "vocabulary": self.vocabulary_,
            "idf": self.idf_.tolist(),
        }
        return json.dumps(state)

    @classmethod
    def from_json(cls, payload: str) -> TextFeatures:
        state = json.loads(payload)
        if state.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported vocabulary format {state.get('format_version')!r}")
        features = cls(**state["params"])
        features.vocabulary_ = list(state["vocabulary"])
        features.idf_ = np.asarray(state["idf"], dtype=np.float32)
        features._prepare()
        return features
