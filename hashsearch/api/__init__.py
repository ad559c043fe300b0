"""The Python API: ``Searcher`` builds, opens, syncs, writes and searches an index. It composes the layers
below: a build reads and analyses text (``text``), trains the model (``model``), stores rows (``store``),
and a ``Snapshot`` holds the in-memory segments (``index``) that searches read.

May import every layer below it; the CLI and the server import it.
"""
