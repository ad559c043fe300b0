"""hashsearch: semantic hashing for text search.

A small autoencoder learns a short binary code per document from your own corpus; similar documents
get codes a few bits apart, and a search looks up the query's code and its near neighbours.
"""
from .corpus import Document
from .errors import (CorpusError, DocumentNotFoundError, HashsearchError, IndexFormatError, IndexNotFoundError,
                     InvalidParameterError, QueryError)
from .model import SemanticHasher
from .searcher import ChangeReport, Hit, Searcher

__version__ = "0.1.0"
__all__ = ["ChangeReport", "CorpusError", "Document", "DocumentNotFoundError", "HashsearchError", "Hit",
           "IndexFormatError", "IndexNotFoundError", "InvalidParameterError", "QueryError", "Searcher",
           "SemanticHasher", "__version__"]
