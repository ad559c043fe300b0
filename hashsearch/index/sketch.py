"""Word sketches: a SimHash of each document's vocabulary words, 16 bytes beside its code.

The learned code says what a document is about; documents that share a code (at a million
documents, buckets of hundreds or thousands) are alike to it. A document-sized query is ranked among the
documents near its code by how much their words agree too, which a sketch estimates in one
popcount: Charikar's SimHash (STOC 2002) of the weighted term vector the model reads, whose
Hamming distance tracks the angle between the two vectors. The "filter with the hash, then
compare term vectors" of Salakhutdinov and Hinton, from memory rather than from stored rows.

A document's sketch is computed from its stored word counts (``words.encode_words``), a query's
from the weights its code is computed from, by the same arithmetic (each sum adds ±weights in
ascending column order; the products are exact), so a document searched by its own text meets its
own sketch (unless a word of it is counted more than the 255 times stored). Each vocabulary word's
128 random signs come from a hash of the word: nothing is stored but the sketches.
"""
from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from hashsearch.index.words import document_pairs
from hashsearch.text.features import TextFeatures

SKETCH_BITS = 128
_SPLITMIX_GAMMA = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's output function: 64 well-mixed bits from each uint64."""
    z = values + _SPLITMIX_GAMMA
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def sketch_distances(sketches: np.ndarray, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Hamming distances (uint8) from the packed ``query`` sketch to the sketches of ``rows``."""
    counts = np.bitwise_count(sketches.view(np.uint64).take(rows, axis=0) ^ query.view(np.uint64))
    return counts[:, 0] + counts[:, 1]  # uint8: at most 128; twice as fast as a sum along the rows


class Sketcher:
    """Sketches of texts over a vocabulary (``TextFeatures``: its words, in its column order, weighed as
    it weighs them before scaling a row)."""

    def __init__(self, features: TextFeatures) -> None:
        self.features = features
        hashes = np.array([zlib.crc32(term.encode("utf-8")) for term in features.vocabulary_], dtype=np.uint32)
        self._by_hash = np.argsort(hashes, kind="stable")  # a stored word is found by its hash
        self._hashes = hashes[self._by_hash]
        with np.errstate(over="ignore"):  # SplitMix64 multiplies modulo 2**64
            seeds = hashes.astype(np.uint64) << np.uint64(1)
            words = np.stack([_splitmix64(seeds), _splitmix64(seeds | np.uint64(1))], axis=1)
        self._signs = 2 * np.unpackbits(words.view(np.uint8), axis=1).astype(np.float32) - 1  # (vocabulary, 128)

    def query(self, columns: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The packed sketch (16 uint8) of a text's ``TextFeatures.weighted_terms``."""
        # Rows added one after another in column order (a reduction across rows), as the sparse product adds them.
        return np.packbits(np.add.reduce(weights[:, None] * self._signs.take(columns, axis=0), axis=0) > 0)

    def documents(self, blobs: Sequence[bytes]) -> np.ndarray:
        """Packed sketches (n, 16) of stored documents' ``encode_words`` blobs, in their order."""
        import scipy.sparse as sp  # here, not at the top: a search never makes a matrix

        out = np.empty((len(blobs), SKETCH_BITS // 8), dtype=np.uint8)
        for docs, hashes, counts, sizes in document_pairs(blobs):
            positions = self._hashes.searchsorted(hashes) if len(self._hashes) else np.zeros(len(hashes), np.int64)
            known = self._hashes.take(positions, mode="clip") == hashes if len(self._hashes) else positions < 0
            columns, doc_rows = self._by_hash[positions[known]], np.repeat(np.arange(len(sizes)), sizes)[known]
            counts = counts[known].astype(np.float32)
            pointers = np.concatenate([[0], np.cumsum(np.bincount(doc_rows, minlength=len(sizes)))])
            weights = self.features.weighted_rows(counts, columns, pointers)
            matrix = sp.csr_matrix((weights, columns, pointers), shape=(len(sizes), len(self._hashes)))
            matrix.sort_indices()  # each row's columns ascending: the order ``query`` adds them in
            out[docs] = np.packbits(np.asarray(matrix @ self._signs) > 0, axis=1)
        return out
