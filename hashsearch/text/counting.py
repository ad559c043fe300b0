"""Term statistics gathered over a stream of texts, from which a vocabulary is chosen without holding
the texts: how many texts hold each term (document frequency) and how often it occurs in all (term
frequency). Counts from several streams add up (``merge``), so that the partitions of a distributed
build count apart and the driver sums them.

A stream of tens of millions of texts meets tens of millions of distinct terms (numbers, misspellings,
names), most seen once. ``max_terms`` bounds the table: past it, the terms held by fewest texts are
dropped, as in lossy counting (Manku and Motwani), and ``dropped_at_most`` says up to which document
frequency a term may have been lost. A vocabulary keeps the most frequent terms held by at least
``min_df`` texts, so the terms dropped are ones it would not choose, unless the stream holds more
distinct terms of every frequency than the bound.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

MAX_TERMS = 2_000_000  # a table of this many terms takes about 400 MB


class TermCounts:
    """Document and term frequencies of the texts added so far (``add`` takes a text's terms, as
    ``analysis.Analyzer.terms`` gives them)."""

    def __init__(self, *, max_terms: int = MAX_TERMS) -> None:
        self.max_terms = max_terms
        self.texts = 0
        self.document_frequency: Counter[bytes] = Counter()
        self.term_frequency: Counter[bytes] = Counter()
        self.dropped_at_most = 0  # terms held by at most this many texts may be missing

    def add(self, terms: list[bytes]) -> None:
        """Count one text's terms."""
        self.texts += 1
        self.term_frequency.update(terms)  # Counter.update of a list counts in C
        self.document_frequency.update(set(terms))
        if len(self.document_frequency) > self.max_terms:
            self._drop_rare()

    def add_all(self, term_lists: Iterable[list[bytes]]) -> TermCounts:
        for terms in term_lists:
            self.add(terms)
        return self

    def merge(self, other: TermCounts) -> TermCounts:
        """Add ``other``'s counts to these (a partition's to the total); returns self."""
        self.texts += other.texts
        self.term_frequency.update(other.term_frequency)
        self.document_frequency.update(other.document_frequency)
        self.dropped_at_most = max(self.dropped_at_most, other.dropped_at_most)
        if len(self.document_frequency) > self.max_terms:
            self._drop_rare()
        return self

    def _drop_rare(self) -> None:
        """Drop the terms held by fewest texts until about half the bound is left."""
        frequencies = sorted(self.document_frequency.values())
        cut = frequencies[len(frequencies) - self.max_terms // 2]  # the least df among the most frequent half
        rare = [term for term, df in self.document_frequency.items() if df < cut] or \
            [term for term, df in self.document_frequency.items() if df <= cut]
        self.dropped_at_most = max(self.dropped_at_most, max(self.document_frequency[term] for term in rare))
        for term in rare:
            del self.document_frequency[term]
            del self.term_frequency[term]
