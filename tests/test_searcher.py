from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from hashsearch import InvalidParameterError, QueryError, Searcher
from hashsearch.index import codes as codelib
from hashsearch.index import probing, ranking
from hashsearch.index.probing import ProbeStrategy
from hashsearch.index.words import query_words
from hashsearch.store.storage import Storage
from hashsearch.text.analysis import Analyzer
from tests.conftest import (
    FAST,
    document_reference,
    feedback_reference,
    query_positions,
    query_sketch,
    word_score_array,
)

ANALYZER = Analyzer()  # the default text analysis, as a default build uses it

QUERIES = ["rocket launch to the moon", "encryption keys and the clipper chip", "hockey playoff game",
           "car engine oil", "doctor and medicine", "gun control laws", "3d graphics rendering", "prayer and faith"]


def brute_force(searcher, db, text, k):
    """Reference top k: popcount distance to every stored code, ties by the documented id-hash order."""
    storage = Storage.open(db)
    ids, stored = storage.read_lookup()[:2]
    storage.close()
    stored = stored.reshape(len(ids), -1)
    query = searcher.encode([text])[0]
    from hashsearch.index.segment import tiebreak_order as _tiebreak_order
    order = _tiebreak_order(ids)
    distances = codelib.hamming(query, stored[order])
    best = np.lexsort((np.arange(len(order)), distances))[:k]
    return [(ids[order[i]], int(distances[i])) for i in best]


@pytest.mark.parametrize("k", [1, 10, 100, 1000])
def test_search_returns_true_hamming_top_k(searcher, built_db, k):
    for text in QUERIES[:4]:
        hits = searcher.search(text, k=k, mode="hamming")
        assert [(h.id, h.distance) for h in hits] == brute_force(searcher, built_db, text, k)
        assert all(h.score is None for h in hits)
        assert len(hits) == min(k, 400)


@pytest.mark.parametrize("mode", ["hybrid", "hamming"])
def test_radius_changes_the_path_not_the_answer(searcher, mode):
    for text in QUERIES:
        reference = searcher.search(text, k=25, radius=0, mode=mode)
        for radius in (1, 2, 3):
            assert searcher.search(text, k=25, radius=radius, mode=mode) == reference


def test_hits_carry_snippets(searcher):
    hit = searcher.search("space shuttle orbit", k=1)[0]
    assert hit.snippet and "\n" not in hit.snippet and len(hit.snippet) <= 200
    assert set(hit.to_dict()) == {"id", "distance", "snippet", "score", "marks", "title", "metadata"}
    assert hit.marks is None and hit.title is None and hit.metadata is None  # the stored start: no text read


def test_search_without_snippets_gives_the_same_hits(searcher):
    for text in QUERIES:
        with_snippets = searcher.search(text, k=12)
        without = searcher.search(text, k=12, snippets=False)
        assert [(h.id, h.distance, None) for h in with_snippets] == [(h.id, h.distance, h.snippet) for h in without]
    assert searcher.search_many(QUERIES, k=5, snippets=False) == [searcher.search(q, k=5, snippets=False)
                                                                  for q in QUERIES]


def hybrid_brute_force(searcher, text, k):
    """Reference for the default ranking: a document-sized text's (``document_reference``), or every
    document scored by ranking.hybrid's formula, ties by row.

    Exact for k <= HASH_CANDIDATES on an index whose posting lists are not pruned: a document outside
    both candidate sets holds no query word and is no nearer than the candidate codes."""
    snapshot = searcher._snapshot.main
    words, index = snapshot.words, snapshot.index
    if ranking.is_document(searcher._snapshot.features.transform([text]).nnz):
        sketch = query_sketch(searcher, text)
        return document_reference(snapshot, searcher.encode([text])[0], sketch, k)
    query_words, counts = query_positions(words, text)
    if not len(query_words):
        return []  # the index knows none of its words: no hits
    lexical = word_score_array(words, query_words, counts)
    if lexical.any():
        lexical /= lexical.max()
    n_terms = searcher._snapshot.features.transform([text]).nnz
    code = feedback_reference(searcher.encode([text])[0], index.codes, lexical, len(query_words), n_terms)
    distances = codelib.hamming(code, index.codes)
    total = lexical + np.float32(ranking.code_weight(n_terms)) * (1 - 2 * distances / np.float32(index.bits))
    best = np.lexsort((np.arange(len(total)), -total))[:k]
    return [(snapshot.ids[i], int(distances[i]), round(float(total[i]), 6)) for i in best]


def test_short_queries_are_ranked_by_the_code_fed_back_from_their_best_documents(searcher, sample_docs):
    """A few words: the majority of the query's code and its best documents' (brute force); a long text
    keeps its own code."""
    segment = searcher._snapshot.main
    changed = 0
    for text in QUERIES + [sample_docs[3]["text"]]:
        words, counts = query_words(ANALYZER.terms(text))
        held, held_counts = query_positions(segment.words, text)
        lexical = word_score_array(segment.words, held, held_counts)
        own = searcher.encode([text])[0]
        parts = searcher._snapshot.parts()
        n_terms = searcher._snapshot.features.transform([text]).nnz
        fed = ranking.feedback_code(parts, *ranking.word_scores(parts, words, counts), own, n_terms)
        assert fed.tobytes() == feedback_reference(own, segment.index.codes, lexical, len(held), n_terms).tobytes()
        if n_terms > ranking.SHORT_QUERY:
            assert fed.tobytes() == own.tobytes()
        changed += fed.tobytes() != own.tobytes()
    assert changed >= len(QUERIES) // 2


@pytest.mark.parametrize("k", [1, 10, 100])
@pytest.mark.parametrize("prune_from", [ranking.PRUNE_FROM, 0])
def test_default_ranking_equals_brute_force(searcher, sample_docs, k, prune_from, monkeypatch):
    """Also with the cut to candidates that could rank made on every query (``prune_from`` 0)."""
    monkeypatch.setattr(ranking, "PRUNE_FROM", prune_from)
    queries = QUERIES + [sample_docs[3]["text"], sample_docs[200]["text"][:300], "words no document holds zqxv"]
    for text in queries:
        assert [(h.id, h.distance, h.score) for h in searcher.search(text, k=k)] == hybrid_brute_force(
            searcher, text, k)


@pytest.mark.parametrize("k", [1, 10, 100])
@pytest.mark.parametrize("prune_from", [ranking.PRUNE_FROM, 0])
def test_default_ranking_from_probed_balls_equals_brute_force(built_db, sample_docs, k, prune_from, monkeypatch):
    """On an index large enough to probe the balls instead of scanning (made so by a strategy that
    probes up to radius 2): the nearest codes come from the balls, scanned for only when a row outside
    them could rank; the hits stay exact."""
    monkeypatch.setattr(ranking, "PRUNE_FROM", prune_from)
    monkeypatch.setattr(probing, "DEFAULT_STRATEGY", ProbeStrategy(widest_ball=2))
    queries = QUERIES + [sample_docs[3]["text"], sample_docs[200]["text"][:300], "zqxv wplk",
                         f"zqxv {word_of_one_document(sample_docs)}"]
    with Searcher.open(built_db) as searcher:
        assert searcher.search_paths()["scans"] == 0
        for text in queries:
            assert [(h.id, h.distance, h.score) for h in searcher.search(text, k=k)] == hybrid_brute_force(
                searcher, text, k)
        paths = searcher.search_paths()
    assert paths["scans"] or k == 1  # a query whose words one document holds needs the scan past its first hit
    assert paths["own_bucket"] + paths["ball"] > 0
    if k <= 10:  # most queries do not (a hundred hits of 400 documents mostly do)
        assert paths["scans"] < len(queries) / 2


def word_of_one_document(docs):
    """A word of letters that exactly one of ``docs`` holds (as analysed)."""
    holders = Counter(term for doc in docs for term in set(ANALYZER.terms(doc["text"])))
    return next(word for doc in docs for word in doc["text"].split()
                if word.isalpha() and holders[ANALYZER.terms(word)[0] if ANALYZER.terms(word) else b""] == 1)


def test_a_document_searched_by_its_own_text_comes_first(searcher, sample_docs):
    """Always for a text longer than a short query; a text of a few words is ranked by the code fed back
    from its best documents by words, which can put a longer document on the same words first."""
    features = searcher._snapshot.features
    first = []
    for doc in sample_docs:
        first.append(searcher.search(doc["text"], k=1, snippets=False)[0].id == doc["id"])
        assert first[-1] or features.transform([doc["text"]]).nnz <= ranking.SHORT_QUERY
    assert np.mean(first) >= 0.99


def test_a_document_is_found_by_its_first_line(searcher, sample_docs):
    """Known-item search: a post's Subject line finds it in the top 10 (the codes alone find 1 in 20)."""
    first_lines = [doc["text"].split("\n", 1)[0] for doc in sample_docs]
    unique = [(line, doc["id"]) for line, doc in zip(first_lines, sample_docs, strict=True)
              if first_lines.count(line) == 1]
    found = [doc_id in {h.id for h in searcher.search(line, k=10, snippets=False)} for line, doc_id in unique]
    assert len(unique) > 200 and np.mean(found) >= 0.95


def test_default_order_is_by_score_then_the_id_hash(searcher):
    from hashsearch.index.segment import tiebreak_order as _tiebreak_order
    ids = searcher._snapshot.main.ids
    position = {doc_id: row for row, doc_id in enumerate(ids)}
    assert np.array_equal(_tiebreak_order(list(ids)), np.arange(len(ids)))  # rows are in the id-hash order
    for text in QUERIES + ["words no document holds zqxv"]:
        hits = searcher.search(text, k=50)
        keys = [(-h.score, position[h.id]) for h in hits]
        assert keys == sorted(keys)


def test_a_query_of_unknown_words_ranks_by_the_codes_alone(searcher):
    hits = searcher.search("zqxv wplk", k=30)
    hamming = searcher.search("zqxv wplk", k=30, mode="hamming")
    assert [(h.id, h.distance) for h in hits] == [(h.id, h.distance) for h in hamming]


def test_search_many_equals_search(searcher):
    assert searcher.search_many(QUERIES, k=7) == [searcher.search(q, k=7) for q in QUERIES]


def test_concurrent_searches_match_serial(searcher):
    queries = QUERIES * 25
    serial = [searcher.search(q, k=20) for q in queries]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda q: searcher.search(q, k=20), queries))
    assert parallel == serial


def test_reopen_gives_same_results(built_db):
    with Searcher.open(built_db) as first:
        before = first.search_many(QUERIES, k=15)
    with Searcher.open(built_db) as second:
        assert second.search_many(QUERIES, k=15) == before


def test_same_corpus_and_seed_give_identical_codes(new_db, sample_docs):
    docs = sample_docs[::4]
    stored = []
    for db in (new_db(), new_db()):
        Searcher.build(docs, db, bits=16, seed=5, **FAST).close()
        storage = Storage.open(db)
        stored.append(storage.read_lookup()[:2])
        storage.close()
    assert stored[0][0] == stored[1][0] and np.array_equal(stored[0][1], stored[1][1])


@pytest.mark.parametrize("bad,message", [
    ("", r"^the query is empty\. Give some words to search for\.$"),
    ("   ", r"^the query is empty\. Give some words to search for\.$"),
])
def test_empty_query_is_refused(searcher, bad, message):
    with pytest.raises(QueryError, match=message):
        searcher.search(bad)


def test_bad_k_and_radius_are_named(searcher):
    with pytest.raises(InvalidParameterError, match=r"^k must be an int >= 1\. Got 0 instead\.$"):
        searcher.search("moon", k=0)
    with pytest.raises(InvalidParameterError, match=r"^radius must be an int in \[0, 32\]\. Got 40 instead\.$"):
        searcher.search("moon", radius=40)


def test_unknown_option_is_named(tmp_path, sample_docs):
    with pytest.raises(InvalidParameterError, match=r"^unknown option\(s\) colour\. Known options: "):
        Searcher.build(sample_docs, tmp_path / "x.db", colour="red")
    assert not (tmp_path / "x.db").exists()


def test_add_update_remove_and_reindex(new_db, sample_docs):
    db = new_db()
    with Searcher.build(sample_docs[:300], db, bits=32, **FAST) as searcher:
        new_doc = {"id": "new/rocket.txt", "text": "A rocket launch to the moon, with fuel and orbit burns."}
        report = searcher.add([new_doc, {**sample_docs[0], "text": "changed text about hockey"}])
        assert (report.added, report.updated, report.removed) == (1, 1, 0)
        assert len(searcher) == 301
        assert "new/rocket.txt" in [h.id for h in searcher.search(new_doc["text"], k=5)]
        report = searcher.remove(["new/rocket.txt", "not/there.txt"])
        assert (report.removed, report.missing) == (1, ["not/there.txt"])
        assert all(h.id != "new/rocket.txt" for h in searcher.search(new_doc["text"], k=300))
    with Searcher.index(sample_docs[100:], db) as searcher:  # re-index: 100 not in it, 100 new, 1 changed back
        report = searcher.last_change
        assert (report.added, report.updated, report.removed, report.unchanged) == (100, 0, 0, 200)
        assert report.not_in_source == sorted(d["id"] for d in sample_docs[:100]) and len(searcher) == 400
    with Searcher.index(sample_docs[100:], db, prune=True) as searcher:  # pruned: the 100 go
        report = searcher.last_change
        assert (report.added, report.updated, report.removed, report.unchanged) == (0, 0, 100, 300)
        assert len(report.not_in_source) == 100 and len(searcher) == 300


def test_reindex_with_other_bits_needs_retrain(new_db, sample_docs):
    db = new_db()
    Searcher.build(sample_docs[:50], db, bits=32, **FAST).close()
    with pytest.raises(InvalidParameterError, match=r"uses 32-bit codes, not 64\. Add --retrain"):
        Searcher.index(sample_docs[:50], db, bits=64)
    with Searcher.index(sample_docs[:50], db, bits=64, retrain=True, **FAST) as searcher:
        assert searcher.bits == 64


@pytest.mark.parametrize("candidates", [ranking.DOCUMENT_CANDIDATES, 30])  # 30: balls smaller than the index
@pytest.mark.parametrize("k", [1, 10, 100])  # 100 with 30: the hits past the ball come in Hamming order
def test_document_sized_queries_equal_brute_force(searcher, sample_docs, candidates, k, monkeypatch):
    monkeypatch.setattr(ranking, "DOCUMENT_CANDIDATES", candidates)
    features = searcher._snapshot.features
    texts = [doc["text"] for doc in sample_docs[::4] if ranking.is_document(features.transform([doc["text"]]).nnz)][:20]
    assert len(texts) >= 10
    for text in texts:
        hits = searcher.search(text, k=k)
        assert [(h.id, h.distance, h.score) for h in hits] == hybrid_brute_force(searcher, text, k)
        pages = [searcher.search(text, k=k // 2 or 1, offset=offset) for offset in (0, k // 2 or 1)]
        assert sum(pages, [])[:k] == hits[:2 * (k // 2 or 1)]
    assert searcher.search_many(texts, k=k) == [searcher.search(text, k=k) for text in texts]


@pytest.mark.parametrize("mode", ["hybrid", "hamming"])
def test_search_many_equals_search_one_by_one_exactly(searcher, sample_docs, mode):
    """One query-encoding path: the batch gives exactly the hits (ids, distances, scores, snippets) of
    each query searched alone, for the sample's 400 Subject lines and some whole posts."""
    queries = [doc["text"].split("\n", 1)[0] for doc in sample_docs] + [doc["text"] for doc in sample_docs[::40]]
    assert searcher.search_many(queries, k=10, mode=mode) == [searcher.search(q, k=10, mode=mode) for q in queries]
