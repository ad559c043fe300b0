from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from hashsearch import InvalidParameterError, QueryError, Searcher
from hashsearch import codes as codelib
from hashsearch.storage import Storage
from tests.conftest import FAST

QUERIES = ["rocket launch to the moon", "encryption keys and the clipper chip", "hockey playoff game",
           "car engine oil", "doctor and medicine", "gun control laws", "3d graphics rendering", "prayer and faith"]


def brute_force(searcher, db, text, k):
    """Reference top k: popcount distance to every stored code, ties by the documented id-hash order."""
    storage = Storage.open(db)
    ids, stored = storage.read_codes()
    storage.close()
    stored = stored.reshape(len(ids), -1)
    query = searcher.encode([text])[0]
    from hashsearch.searcher import _tiebreak_order
    order = _tiebreak_order(ids)
    distances = codelib.hamming(query, stored[order])
    best = np.lexsort((np.arange(len(order)), distances))[:k]
    return [(ids[order[i]], int(distances[i])) for i in best]


@pytest.mark.parametrize("k", [1, 10, 100, 1000])
def test_search_returns_true_hamming_top_k(searcher, built_db, k):
    for text in QUERIES[:4]:
        hits = searcher.search(text, k=k)
        assert [(h.id, h.distance) for h in hits] == brute_force(searcher, built_db, text, k)
        assert len(hits) == min(k, 400)


def test_radius_changes_the_path_not_the_answer(searcher):
    for text in QUERIES:
        reference = searcher.search(text, k=25, radius=0)
        for radius in (1, 2, 3):
            assert searcher.search(text, k=25, radius=radius) == reference


def test_hits_carry_snippets(searcher):
    hit = searcher.search("space shuttle orbit", k=1)[0]
    assert hit.snippet and "\n" not in hit.snippet and len(hit.snippet) <= 200
    assert set(hit.to_dict()) == {"id", "distance", "snippet", "score"}


def test_search_without_snippets_gives_the_same_hits(searcher):
    for text in QUERIES:
        with_snippets = searcher.search(text, k=12)
        without = searcher.search(text, k=12, snippets=False)
        assert [(h.id, h.distance, None) for h in with_snippets] == [(h.id, h.distance, h.snippet) for h in without]
    assert searcher.search_many(QUERIES, k=5, snippets=False) == [searcher.search(q, k=5, snippets=False)
                                                                  for q in QUERIES]


def test_rerank_orders_the_hamming_shortlist_by_tfidf_cosine(searcher, sample_docs):
    text = "the space shuttle and nasa launch schedule"
    hits = searcher.search(text, k=10, rerank=True)
    shortlist = {h.id for h in searcher.search(text, k=100)}
    assert {h.id for h in hits} <= shortlist
    snapshot = searcher._snapshot
    texts = {d["id"]: d["text"] for d in sample_docs}
    query = snapshot.features.transform([text])
    expected = sorted(((float((snapshot.features.transform([texts[i]]) @ query.T).toarray()[0, 0]), i)
                       for i in shortlist), key=lambda pair: -pair[0])[:10]
    assert [h.score for h in hits] == pytest.approx([score for score, _ in expected], abs=1e-5)
    own = sample_docs[7]
    assert searcher.search(own["text"], k=1, rerank=True)[0].id == own["id"]


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
        stored.append(storage.read_codes())
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
    with Searcher.index(sample_docs[100:], db) as searcher:  # re-index: 100 gone, 100 new, 1 changed back
        report = searcher.last_change
        assert (report.added, report.updated, report.removed, report.unchanged) == (100, 0, 100, 200)
        assert len(searcher) == 300


def test_reindex_with_other_bits_needs_retrain(new_db, sample_docs):
    db = new_db()
    Searcher.build(sample_docs[:50], db, bits=32, **FAST).close()
    with pytest.raises(InvalidParameterError, match=r"uses 32-bit codes, not 64\. Add --retrain"):
        Searcher.index(sample_docs[:50], db, bits=64)
    with Searcher.index(sample_docs[:50], db, bits=64, retrain=True, **FAST) as searcher:
        assert searcher.bits == 64
