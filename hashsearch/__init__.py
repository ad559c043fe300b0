"""hashsearch: semantic hashing for text search.

A small autoencoder learns a short binary code per document from your own corpus; similar documents
get codes a few bits apart, and a search looks up the query's code and its near neighbours.

The package in layers, each importing only those below it (``tests/test_layers.py`` checks it):

    cli, server       the command line and the HTTP API with its page, over the Python API
    api/              Searcher: building, opening, writing and searching an index (snapshots)
    store/            the database: schema, reads and writes of an index's rows
    model/            the autoencoder, its training, and the hasher that turns documents into codes
    index/            in-memory search structures: codes, code index, word index, sketches, filters,
                      segments, and the ranking that combines them
    text/             reading sources, analysing text into terms, the vocabulary and its weights
    errors, progress  the exceptions every layer raises, and progress bars
"""
from importlib import import_module
from typing import TYPE_CHECKING, Any

from hashsearch.errors import (
    CorpusError,
    DocumentNotFoundError,
    HashsearchError,
    IndexDamagedError,
    IndexFormatError,
    IndexNotFoundError,
    IndexReadOnlyError,
    InvalidParameterError,
    QueryError,
)

if TYPE_CHECKING:
    from hashsearch.api.distributed import build_on_dask
    from hashsearch.api.results import ChangeReport, Hit
    from hashsearch.api.searcher import Searcher
    from hashsearch.model.hasher import SemanticHasher
    from hashsearch.text.corpus import Document

# Imported on first use (PEP 562): ``hashsearch --help`` and the errors need none of numpy, FAISS or SQLAlchemy.
_LAZY = {"ChangeReport": "hashsearch.api.results", "Hit": "hashsearch.api.results",
         "Searcher": "hashsearch.api.searcher", "SemanticHasher": "hashsearch.model.hasher",
         "Document": "hashsearch.text.corpus", "build_on_dask": "hashsearch.api.distributed"}

__all__ = ["ChangeReport", "CorpusError", "Document", "DocumentNotFoundError", "HashsearchError", "Hit",
           "IndexDamagedError", "IndexFormatError", "IndexNotFoundError", "IndexReadOnlyError", "InvalidParameterError",
           "QueryError", "Searcher", "SemanticHasher", "__version__", "build_on_dask"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'hashsearch' has no attribute {name!r}")
    globals()[name] = value
    return value


def _version() -> str:
    """pyproject.toml's version, read from the installed package's metadata on first use (reading it costs
    every command tens of milliseconds, and only ``--version`` needs it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hashsearch")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "0+unknown"


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
