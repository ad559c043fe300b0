"""The tables an index is, the same on SQLite and PostgreSQL, and the rows written to them.

The documents table is the record: id, text, metadata, content hash. Two narrow tables, clustered by
id on SQLite, hold what is read often: the lookup table (each document's code, word counts
``words.encode_words`` and metadata), which reading an index anew scans to build the code index, the
word index and the filter columns without touching the texts; and the snippets table, which every query
reads its hits from (one B-tree lookup per hit, on pages that hold nothing else: kept apart from the
word counts, ten snippet reads at 1M documents take 0.20 instead of 0.59 ms). The changes table logs
the ids each write touched; the artifacts table holds the vocabulary, the model and the saved main
segment.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

# 2 added the lookup table, 3 its word counts and metadata, 4 the snippets table (and dropped the documents'
# unused term vectors), 5 the changes table. Older indexes are upgraded on open.
FORMAT_VERSION = 5
SNIPPET_CHARS = 200
metadata = sa.MetaData()
meta_table = sa.Table(
    "hashsearch_meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
artifacts_table = sa.Table(
    "hashsearch_artifacts", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
documents_table = sa.Table(
    "hashsearch_documents", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("code", sa.LargeBinary, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("snippet", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("metadata", sa.Text, nullable=False),
    sa.Column("added_at", sa.Float, nullable=False, index=True),
)
lookup_table = sa.Table(
    "hashsearch_lookup", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("code", sa.LargeBinary, nullable=False),
    sa.Column("words", sa.LargeBinary, nullable=False),
    sa.Column("metadata", sa.Text, nullable=False),
    sqlite_with_rowid=False,
)
snippets_table = sa.Table(
    "hashsearch_snippets", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("snippet", sa.Text, nullable=False),
    sqlite_with_rowid=False,
)
changes_table = sa.Table(
    "hashsearch_changes", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),  # never reused: AUTOINCREMENT, a sequence
    sa.Column("id", sa.Text, nullable=False),
    sqlite_autoincrement=True,
)
DERIVED_TABLES = (lookup_table, snippets_table)  # made from the documents table: an upgrade rebuilds them


@dataclass(frozen=True)
class StoredDocument:
    """One row to write: a document with its code."""

    id: str
    code: bytes
    words: bytes
    content_hash: str
    text: str
    metadata: dict[str, Any]

    def as_row(self, added_at: float) -> dict[str, Any]:
        return {"id": self.id, "code": self.code, "words": self.words, "content_hash": self.content_hash,
                "added_at": added_at,
                "snippet": make_snippet(self.text), "text": self.text,
                "metadata": metadata_json(self.metadata)}


# json.dumps with these options makes an encoder a call; one made once writes the same text in less time.
metadata_json = json.JSONEncoder(ensure_ascii=False, default=str).encode


def make_snippet(text: str) -> str:
    """The first words of a text on one line: those of its first ``4 * SNIPPET_CHARS`` characters, their
    whitespace runs made single spaces, cut to ``SNIPPET_CHARS`` with an ellipsis when longer.

    Most texts' first ``2 * SNIPPET_CHARS`` characters settle it (half the characters to split, for
    each row a build stores): their words but the last, which the cut may have split, are the first
    words of the longer prefix, so when those reach past the cut the snippet is theirs."""
    head = " ".join(text[: SNIPPET_CHARS * 2].split())  # str.split: whitespace runs, 50x faster than re.sub
    if head.rfind(" ") >= SNIPPET_CHARS:
        return head[: SNIPPET_CHARS - 1].rstrip() + "…"
    flat = " ".join(text[: SNIPPET_CHARS * 4].split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rstrip() + "…"
