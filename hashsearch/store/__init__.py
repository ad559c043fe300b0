"""The database (SQLite or PostgreSQL through SQLAlchemy): the schema, and ``Storage``, which reads and
writes an index's documents, codes, words, artifacts (vocabulary, model, saved segments) and change log,
each write one transaction.

May import: ``hashsearch.index`` (the rows a segment is built from, word encoding), ``hashsearch.model``,
``hashsearch.text``, ``hashsearch.errors``.
"""
