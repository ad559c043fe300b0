"""In-memory search structures, built from rows the store reads: packed binary codes and the code index
that finds near codes (hash buckets, Hamming balls, scans), the word index (BM25 posting lists), word
sketches, metadata filter columns, segments that hold them together, and the ranking that combines
codes and words into hits.

May import: ``hashsearch.text`` (term weights and hashing), ``hashsearch.errors``, ``hashsearch.progress``.
"""
