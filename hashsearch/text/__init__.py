"""Text in: reading sources (folders, JSON lines, CSV) into documents, analysing text into terms (Unicode
folding, tokens, stemming, stop words), and the vocabulary with its term weights (BM25, TF-IDF).

May import: ``hashsearch.errors``, ``hashsearch.progress``. Nothing here knows about codes, indexes or the
database.
"""
