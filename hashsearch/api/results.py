"""What the API hands back: ``Hit`` for each search result, ``ChangeReport`` for each write."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Hit:
    """One search result. ``distance`` is the Hamming distance between the query's code and the document's;
    ``score`` the default ranking's score (None in the pure Hamming mode); ``snippet`` is None when the
    search was asked for none; ``marks`` the (start, end) character spans of the query's words in a
    query-biased snippet (``snippets="passage"``), else None; with passages also ``title`` (the
    document's ``title`` field, else its first line) and ``metadata``. Not frozen: a frozen dataclass takes four
    times as long to make (1.7 against 0.4 us), a tenth of a query's time for ten hits."""

    id: str
    distance: int
    snippet: str | None
    score: float | None = None
    marks: list[tuple[int, int]] | None = None
    title: str | None = None
    metadata: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChangeReport:
    """What a build or an update did, for summaries: counts, the ids skipped or left alone, the files
    read in a guessed encoding, and the seconds each stage took."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped_empty: list[str] = field(default_factory=list)
    skipped_binary: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # ids a remove named that the index does not hold
    not_in_source: list[str] = field(default_factory=list)  # a sync's indexed ids its source lacks
    guessed_encodings: dict[str, str] = field(default_factory=dict)  # file -> the legacy encoding it was read in
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
