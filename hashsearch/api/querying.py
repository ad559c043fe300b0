"""Searching, step by step, for ``Searcher``: a query text to its ``Query`` (terms, weights, code), a
``Query`` to ranked ids, ranked ids to ``Hit`` objects with the snippets asked for, and the checks of a
search's arguments. Functions of the snapshot (and the store, for snippets): the Searcher holds the state.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hashsearch.api.results import Hit
from hashsearch.errors import InvalidParameterError, QueryError
from hashsearch.store.storage import Storage

if TYPE_CHECKING:
    import numpy as np

    from hashsearch.api.snapshot import Snapshot
    from hashsearch.index.parts import Page, Part
    from hashsearch.index.ranking import Query

SNIPPET_KINDS = (True, False, "lead", "passage")  # see Searcher.search
Ranked = tuple[list[str], list[int], list[float | None]]  # ids, distances, scores


def encoded_query(snapshot: Snapshot, text: str, mode: str) -> Query:
    """The query for ``text``: its terms, their weights and its code (one row through the encoder's
    numpy weights: the one path every search takes)."""
    from hashsearch.text.features import unit_length

    runs = snapshot.features.analyzer_.terms(text)
    columns, weights = snapshot.features.weighted_terms(runs)
    code = snapshot.hasher.encode_terms(columns, unit_length(weights))
    return query_of(snapshot, runs, code, mode, (columns, weights))


def query_of(snapshot: Snapshot, runs: Sequence[bytes], code: np.ndarray, mode: str,
             terms: tuple[np.ndarray, np.ndarray] | None = None) -> Query:
    """What a query of these terms (``Analyzer.terms``) and code is ranked by: the code alone (Hamming
    mode), with its sketch (a document-sized query), or with its word hashes. ``terms``: its
    ``weighted_terms``, when at hand. A query none of whose words the index holds is ranked by nothing
    (no hits)."""
    from hashsearch.index import ranking
    from hashsearch.index.ranking import Query
    from hashsearch.index.words import query_words

    hashes, counts = query_words(runs)
    known = snapshot.holds_any(hashes)
    if mode == "hamming":
        return Query(code, known=known)
    columns, weights = snapshot.features.weighted_terms(runs) if terms is None else terms
    if ranking.is_document(len(columns)):
        return Query(code, sketch=snapshot.sketcher.query(columns, weights))
    return Query(code, words=hashes, known=known, counts=counts, terms=len(columns))


def rank(parts: list[Part], query: Query, radius: int, page: Page) -> Ranked:
    """(ids, distances, scores rounded to 6 places or None) of the page's hits."""
    from hashsearch.index import ranking

    ids, distances, values = ranking.rank(parts, query, radius, page)
    scores: list[float | None] = ([None] * len(ids) if values is None
                                  else [round(float(s), 6) for s in values.tolist()])
    return ids.tolist(), distances.tolist(), scores


def hits_of(storage: Storage, snapshot: Snapshot, ranked: Ranked, snippets: bool | str) -> list[Hit]:
    """The hits of one ranking, for a search without query words (``similar``)."""
    if snippets == "passage":  # no query words: each text's start, with its title and metadata
        return passages(storage, snapshot, [ranked], [set()])[0]
    return hits_many(storage, snapshot, [ranked], snippets)[0]


def hits_many(storage: Storage, snapshot: Snapshot, ranked: list[Ranked], snippets: bool | str,
              query_terms: list[set[bytes]] | None = None) -> list[list[Hit]]:
    """Each ranking's hits with the snippets asked for: none, the stored starts, or passages."""
    if query_terms is not None:
        return passages(storage, snapshot, ranked, query_terms)
    if not snippets:
        return [[Hit(doc_id, distance, None, score)
                 for doc_id, distance, score in zip(ids, distances, scores, strict=True)]
                for ids, distances, scores in ranked]
    snippet_of = storage.read_snippets([i for ids, _, _ in ranked for i in ids])
    # A document removed by another writer after this search began has no snippet row: leave it out.
    return [[Hit(doc_id, distance, snippet_of[doc_id], score)
             for doc_id, distance, score in zip(ids, distances, scores, strict=False) if doc_id in snippet_of]
            for ids, distances, scores in ranked]


def passages(storage: Storage, snapshot: Snapshot, ranked: list[Ranked],
             query_terms: list[set[bytes]]) -> list[list[Hit]]:
    """Hits whose snippet is the passage of their text that holds most of the query's words, with
    their titles and metadata (read with the texts)."""
    from hashsearch.text.snippets import best_passage, document_title

    text_of = storage.read_documents([i for ids, _, _ in ranked for i in ids])
    analyzer = snapshot.features.analyzer_
    hits = []
    for (ids, distances, scores), terms in zip(ranked, query_terms, strict=True):
        found = []
        for doc_id, distance, score in zip(ids, distances, scores, strict=True):
            if doc_id in text_of:  # else removed by another writer since the search began
                text, metadata = text_of[doc_id]
                passage = best_passage(text, terms, analyzer)
                found.append(Hit(doc_id, distance, passage.text, score, passage.marks,
                                 document_title(text, metadata), metadata))
        hits.append(found)
    return hits


def check_queries(texts: Sequence[str]) -> None:
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            raise QueryError("the query is empty. Give some words to search for.")


def check_search_args(snapshot: Snapshot, k: int, radius: int | None, mode: str,
                       where: Mapping[str, Any] | None, offset: int, max_distance: int | None,
                       snippets: bool | str) -> tuple[int, Page, list[Part]]:
    from hashsearch.index import ranking

    radius, page = ranking.checked_page(snapshot.hasher.bits, k, radius, mode, offset, max_distance)
    if snippets not in SNIPPET_KINDS:
        raise InvalidParameterError("snippets must be one of True, False, 'lead', 'passage'. "
                                    f"Got {snippets!r} instead.")
    return radius, page, snapshot.parts(where)
