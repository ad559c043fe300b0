"""Word sketches: a SimHash of each document's vocabulary words, 16 bytes beside its code.

The learned code says what a document is about; documents that share a code (at a million
documents, buckets of hundreds) are alike to it. A document-sized query is ranked among the
documents near its code by how much their words agree too, which a sketch estimates in one
popcount: Charikar's SimHash (STOC 2002) of the BM25-weighted term vector the model reads, whose
Hamming distance tracks the angle between the two vectors. The "filter with the hash, then
compare term vectors" of Salakhutdinov and Hinton, from memory rather than from stored rows.

A sketch is computed from a document's stored word counts (``words.encode_words``) and the
vocabulary; a query's from its own word counts by the same arithmetic (each sum adds ±weights in
ascending vocabulary order, exact products), so a document searched by its own text meets its own
sketch. Each vocabulary word's 128 random signs come from a hash of the word: nothing is stored.
"""
from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from .features import BM25_B, BM25_K1, TextFeatures
from .words import MAX_COUNT, document_pairs

SKETCH_BITS = 128
_SPLITMIX_GAMMA = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's output function: 64 well-mixed bits from each uint64."""
    z = values + _SPLITMIX_GAMMA
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def sketch_distances(sketches: np.ndarray, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Hamming distances (int64) from the packed ``query`` sketch to the sketches of ``rows``."""
    words = sketches.view(np.uint64)
    return np.bitwise_count(words.take(rows, axis=0) ^ query.view(np.uint64)).sum(axis=1, dtype=np.int64)


class Sketcher:
    """Sketches of word counts over a vocabulary (``TextFeatures``' words, idf and mean length)."""

    def __init__(self, features: TextFeatures) -> None:
        hashes = np.array([zlib.crc32(term.encode("utf-8")) for term in features.vocabulary_], dtype=np.uint32)
        order = np.argsort(hashes, kind="stable")  # a word is found by its hash, as the word index finds it
        self._hashes = hashes[order]
        self._idf = np.asarray(features.idf_, dtype=np.float32)[order]
        self._mean_length = np.float32(max(features.mean_length_, 1.0))
        with np.errstate(over="ignore"):  # SplitMix64 multiplies modulo 2**64
            seeds = self._hashes.astype(np.uint64) << np.uint64(1)
            words = np.stack([_splitmix64(seeds), _splitmix64(seeds | np.uint64(1))], axis=1)
        bits = np.unpackbits(words.view(np.uint8), axis=1)  # (vocabulary, 128)
        self._signs = (2 * bits.astype(np.float32) - 1)

    def query(self, counts: Mapping[int, int]) -> np.ndarray:
        """The packed sketch (16 uint8) of a query given as word hash -> count (``words.word_hashes``)."""
        hashes = np.fromiter(counts, dtype=np.uint32, count=len(counts))
        values = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        columns, known = self._columns(hashes)
        order = np.argsort(columns[known], kind="stable")
        columns, values = columns[known][order], np.minimum(values[known][order], np.float32(MAX_COUNT))
        weights = self._weights(columns, values, values.sum(dtype=np.float32))
        # Rows added one after another (a reduction across rows), as the sparse product adds them.
        totals = np.add.reduce(weights[:, None] * self._signs.take(columns, axis=0), axis=0)
        return np.packbits(totals > 0)

    def documents(self, blobs: list[bytes]) -> np.ndarray:
        """Packed sketches (n, 16) of stored documents' ``encode_words`` blobs, in their order."""
        out = np.empty((len(blobs), SKETCH_BITS // 8), dtype=np.uint8)
        for docs, hashes, values, sizes in document_pairs(blobs):
            columns, known = self._columns(hashes)
            columns, doc_rows = columns[known], np.repeat(np.arange(len(sizes)), sizes)[known]
            values = values[known].astype(np.float32)
            lengths = np.bincount(doc_rows, weights=values, minlength=len(sizes)).astype(np.float32)
            # A blob's hashes ascend, so each row's columns do: the product adds them in the query's order.
            pointers = np.concatenate([[0], np.cumsum(np.bincount(doc_rows, minlength=len(sizes)))])
            matrix = sp.csr_matrix((self._weights(columns, values, lengths[doc_rows]), columns, pointers),
                                   shape=(len(sizes), len(self._hashes)))
            out[docs] = np.packbits(np.asarray(matrix @ self._signs) > 0, axis=1)
        return out

    def _columns(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions of the known words in the sorted vocabulary, which hashes are known)."""
        if not len(self._hashes):
            return np.empty(0, dtype=np.int64), np.zeros(len(hashes), dtype=bool)
        positions = self._hashes.searchsorted(hashes)
        known = self._hashes.take(positions, mode="clip") == hashes
        return positions, known

    def _weights(self, columns: np.ndarray, counts: np.ndarray, lengths: np.ndarray | np.float32) -> np.ndarray:
        """BM25 weights, term frequency * idf, of float32 counts of the words at these columns in texts
        of these lengths (vocabulary words), as ``TextFeatures`` weighs them before scaling a row."""
        saturation = np.float32(BM25_K1) * (1 - np.float32(BM25_B) + np.float32(BM25_B) * lengths / self._mean_length)
        return counts * np.float32(BM25_K1 + 1) / (counts + saturation) * self._idf.take(columns)
