"""The exceptions hashsearch raises on purpose.

Each message names the problem and what to do about it; the CLI prints it as a one-line error.
"""


class HashsearchError(Exception):
    """Base class: anything hashsearch reports to the user deliberately."""


class CorpusError(HashsearchError):
    """A corpus could not be read: missing path, unsupported file type, broken line, no documents."""


class IndexNotFoundError(HashsearchError):
    """The database holds no hashsearch index."""


class IndexFormatError(HashsearchError):
    """The database holds a hashsearch index this version cannot read."""


class DocumentNotFoundError(HashsearchError, KeyError):
    """An operation named a document id the index does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class QueryError(HashsearchError):
    """A query cannot be answered as asked (for example an empty query)."""


class InvalidParameterError(HashsearchError, ValueError):
    """A parameter is outside its allowed values; the message names the parameter, the allowed values and the value."""


class IndexDamagedError(HashsearchError):
    """The database, or something stored in it (a table, the model's weights), is damaged or missing."""


class IndexReadOnlyError(HashsearchError):
    """A write to an index this process may only read; nothing was changed."""
