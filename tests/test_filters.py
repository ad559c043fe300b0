"""Filters, pages, max_distance, similar and get, against brute-force references (both backends)."""
from collections import Counter

import numpy as np
import pytest

from hashsearch import DocumentNotFoundError, InvalidParameterError, Searcher
from hashsearch.index import codes as codelib
from hashsearch.index import ranking
from hashsearch.text.analysis import Analyzer
from tests.conftest import (
    BACKENDS,
    FAST,
    SCANS,
    document_reference,
    feedback_reference,
    make_database,
    query_positions,
    query_sketch,
    use_scan,
    word_score_array,
)

ANALYZER = Analyzer()  # the default text analysis, as a default build uses it


QUERIES = ["rocket launch to the moon", "encryption keys and the clipper chip", "hockey playoff game",
           "gun control laws", "prayer and faith"]


def with_metadata(docs):
    """Sample posts with fields of every kind: a string, an int, a float, a bool, a list, a nested object."""
    return [{**doc, "n": i % 10, "score": i / 4, "even": i % 2 == 0, "tags": [doc["topic"], f"t{i % 3}"],
             "extra": {"nested": True}} | ({"rare": "yes"} if i % 97 == 0 else {})
            for i, doc in enumerate(docs)]


@pytest.fixture(scope="module", params=BACKENDS)
def filtered(request, tmp_path_factory, sample_docs):
    db = make_database(request.param, tmp_path_factory.mktemp("filtered"))
    docs = with_metadata(sample_docs)
    with Searcher.build(docs, db, bits=32, seed=0, **FAST) as searcher:
        yield searcher, {d["id"]: d for d in docs}


def matching(searcher, docs, predicate):
    return np.array([predicate(docs[doc_id]) for doc_id in searcher._snapshot.main.ids])


def reference(searcher, text, k, allowed, mode, max_distance=None, code=None, words=None):
    """Every allowed document scored by the mode's formula (a document-sized text: ``document_reference``);
    ties by row."""
    snapshot = searcher._snapshot.main
    code = searcher.encode([text])[0] if code is None else code
    if mode == "hybrid" and ranking.is_document(searcher._snapshot.features.transform([text]).nnz):
        sketch = query_sketch(searcher, text)
        return [hit[:2] for hit in document_reference(snapshot, code, sketch, k, allowed, max_distance)]
    n_terms = searcher._snapshot.features.transform([text]).nnz
    if words is None and not len(query_positions(snapshot.words, text)[0]):
        return []  # the index knows none of its words: no hits, in either mode
    if mode == "hybrid":  # the query's words, and the code it is ranked by (fed back from the allowed rows)
        query_words, counts = query_positions(snapshot.words, text) if words is None else (words, None)
        lexical = word_score_array(snapshot.words, query_words, counts)
        lexical[~allowed] = 0
        code = feedback_reference(code, snapshot.index.codes, lexical, len(query_words), n_terms)
    distances = codelib.hamming(code, snapshot.index.codes)
    allowed = allowed & (distances <= (max_distance if max_distance is not None else snapshot.index.bits))
    if mode == "hamming":
        total = -distances.astype(np.float64)
    else:
        lexical[~allowed] = 0
        if lexical.any():
            lexical /= lexical.max()
        total = lexical + np.float32(ranking.code_weight(n_terms)) * (
            1 - 2 * distances / np.float32(snapshot.index.bits))
    best = [i for i in np.lexsort((np.arange(len(total)), -total)) if allowed[i]][:k]
    return [(snapshot.ids[i], int(distances[i])) for i in best]


FILTERS = [
    ({"topic": "sci.space"}, lambda d: d["topic"] == "sci.space"),
    ({"topic": {"$ne": "sci.space"}}, lambda d: d["topic"] != "sci.space"),
    ({"n": {"$gt": 6}}, lambda d: d["n"] > 6),
    ({"n": {"$gte": 6}}, lambda d: d["n"] >= 6),
    ({"score": {"$lt": 20.5}}, lambda d: d["score"] < 20.5),
    ({"n": {"$lte": 1, "$gte": 1}}, lambda d: d["n"] == 1),
    ({"n": 3.0}, lambda d: d["n"] == 3),
    ({"even": True}, lambda d: d["even"]),
    ({"topic": {"$in": ["rec.autos", "sci.med"]}}, lambda d: d["topic"] in ("rec.autos", "sci.med")),
    ({"topic": {"$nin": ["rec.autos", "sci.med"]}}, lambda d: d["topic"] not in ("rec.autos", "sci.med")),
    ({"tags": "t1"}, lambda d: "t1" in d["tags"]),
    ({"tags": {"$in": ["t2", "sci.crypt"]}}, lambda d: "t2" in d["tags"] or "sci.crypt" in d["tags"]),
    ({"$and": [{"topic": "sci.crypt"}, {"n": {"$lt": 5}}]}, lambda d: d["topic"] == "sci.crypt" and d["n"] < 5),
    ({"$or": [{"topic": "sci.crypt"}, {"even": False}]}, lambda d: d["topic"] == "sci.crypt" or not d["even"]),
    ({"rare": "yes"}, lambda d: d.get("rare") == "yes"),  # 5 documents: fewer than k
    ({"topic": "no such topic"}, lambda d: False),
]


def document_text(searcher, docs):
    """The text of a sample post long enough to be ranked as a document."""
    features = searcher._snapshot.features
    return next(d["text"] for d in docs.values() if ranking.is_document(features.transform([d["text"]]).nnz))


@pytest.mark.parametrize("mode", ["hybrid", "hamming"])
@pytest.mark.parametrize("where,predicate", FILTERS)
@pytest.mark.parametrize("candidates", [ranking.DOCUMENT_CANDIDATES, 30])  # 30: a document's ball is cut
@pytest.mark.parametrize("scan", SCANS)
def test_filtered_search_is_the_best_k_among_matching_documents(filtered, mode, where, predicate, candidates, scan,
                                                                monkeypatch):
    monkeypatch.setattr(ranking, "DOCUMENT_CANDIDATES", candidates)
    use_scan(scan, monkeypatch)
    searcher, docs = filtered
    allowed = matching(searcher, docs, predicate)
    for text in QUERIES[:3] + [document_text(searcher, docs)]:
        hits = searcher.search(text, k=10, where=where, mode=mode, snippets=False)
        assert [(h.id, h.distance) for h in hits] == reference(searcher, text, 10, allowed, mode)
        assert len(hits) == min(10, allowed.sum())


@pytest.mark.parametrize("mode", ["hybrid", "hamming"])
@pytest.mark.parametrize("scan", SCANS)
def test_pages_concatenate_to_the_unpaged_list(filtered, mode, scan, monkeypatch):
    use_scan(scan, monkeypatch)
    searcher, docs = filtered
    for text in QUERIES + [document_text(searcher, docs)]:
        whole = searcher.search(text, k=30, mode=mode, snippets=False)
        pages = [searcher.search(text, k=10, offset=offset, mode=mode, snippets=False) for offset in (0, 10, 20)]
        assert sum(pages, []) == whole
    assert searcher.search(QUERIES[0], k=10, offset=400, mode=mode) == []


@pytest.mark.parametrize("mode", ["hybrid", "hamming"])
def test_max_distance_drops_farther_hits(filtered, mode):
    searcher, docs = filtered
    everything = np.ones(len(searcher), dtype=bool)
    for text in QUERIES + [document_text(searcher, docs)]:
        limit = searcher.search(text, k=5, mode=mode)[-1].distance  # distances to the code it is ranked by
        hits = searcher.search(text, k=40, mode=mode, max_distance=limit, snippets=False)
        assert hits and all(h.distance <= limit for h in hits)
        assert [(h.id, h.distance) for h in hits] == reference(searcher, text, 40, everything, mode, limit)


@pytest.mark.parametrize("candidates", [ranking.DOCUMENT_CANDIDATES, 30])  # 30: a ball smaller than the index
@pytest.mark.parametrize("scan", SCANS)
def test_similar_ranks_from_the_stored_code_and_sketch_leaving_the_document_out(filtered, candidates, scan,
                                                                                monkeypatch):
    monkeypatch.setattr(ranking, "DOCUMENT_CANDIDATES", candidates)
    use_scan(scan, monkeypatch)
    searcher, docs = filtered
    snapshot = searcher._snapshot.main
    for doc_id in list(docs)[::80]:
        row = snapshot.row_of(doc_id)
        hits = searcher.similar(doc_id, k=10, snippets=False)
        assert doc_id not in {h.id for h in hits} and len(hits) == 10
        assert snapshot.sketches[row].tobytes() == query_sketch(searcher, docs[doc_id]["text"]).tobytes()
        ranked = document_reference(snapshot, snapshot.index.codes[row], snapshot.sketches[row], 11)
        assert ranked[0][0] == doc_id  # it scores highest against itself, then is left out
        assert [(h.id, h.distance, h.score) for h in hits] == ranked[1:]
        pages = [searcher.similar(doc_id, k=5, offset=offset, snippets=False) for offset in (0, 5)]
        assert sum(pages, []) == hits
        space = searcher.similar(doc_id, k=5, where={"topic": "sci.space"}, mode="hamming")
        assert all(docs[h.id]["topic"] == "sci.space" for h in space) and doc_id not in {h.id for h in space}


def test_similar_of_an_unknown_id_says_so(filtered):
    searcher, _ = filtered
    with pytest.raises(DocumentNotFoundError, match=r"^no document 'ghost' in the index\. Give the id of an indexed "
                                                     r"document\.$"):
        searcher.similar("ghost")


def test_get_returns_documents_in_the_order_asked(filtered):
    searcher, docs = filtered
    wanted = [list(docs)[5], "ghost", list(docs)[2]]
    got = searcher.get(wanted)
    assert [d.id for d in got] == [wanted[0], wanted[2]]
    assert got[0].text == docs[wanted[0]]["text"]
    assert got[0].metadata == {k: v for k, v in docs[wanted[0]].items() if k not in ("id", "text")}


@pytest.mark.parametrize("kwargs,message", [
    ({"where": {"n": {"$near": 3}}}, "unknown filter operator '$near' on 'n'. Operators: $eq, $ne, $gt, $gte, $lt, "
                                      "$lte, $in, $nin."),
    ({"where": {"$not": {"n": 3}}}, "unknown filter operator '$not' at the top level: use a field name, $and or $or."),
    ({"where": {"colour": "red"}}, "no document has a metadata field 'colour'. Fields: even, extra, n, rare, score, "
                                   "tags, topic."),
    ({"where": {"n": {"$gt": "5"}}}, "$gt on 'n' needs a number. Got '5' instead."),
    ({"where": {"topic": {"$in": "sci.med"}}}, "$in on 'topic' needs a list of values. Got 'sci.med' instead."),
    ({"where": {"$or": []}}, "$or takes a non-empty list of filters. Got [] instead."),
    ({"where": "topic=sci.med"}, "where must be a dict such as {\"lang\": \"en\"}. Got 'topic=sci.med' instead."),
    ({"offset": -1}, "offset must be an int >= 0. Got -1 instead."),
    ({"max_distance": 33}, "max_distance must be an int in [0, 32]. Got 33 instead."),
])
def test_bad_filter_and_page_arguments_name_the_problem(filtered, kwargs, message):
    searcher, _ = filtered
    with pytest.raises(InvalidParameterError) as caught:
        searcher.search("rocket", **kwargs)
    assert str(caught.value) == message


def test_filters_see_documents_added_or_removed_a_moment_ago(new_db, sample_docs):
    with Searcher.build(with_metadata(sample_docs[:60]), new_db(), bits=32, **FAST) as searcher:
        searcher.add([{"id": "new", "text": "a rocket to the moon", "colour": "red"}])
        assert [h.id for h in searcher.search("rocket", where={"colour": "red"})] == ["new"]
        searcher.remove(["new"])
        with pytest.raises(InvalidParameterError, match="no document has a metadata field 'colour'"):
            searcher.search("rocket", where={"colour": "red"})
        assert searcher.search("image", where={"n": 3}) and all(
            h.id in {d["id"] for d in sample_docs[3:60:10]} for h in searcher.search("image", where={"n": 3}))


COLUMN_RECORDS = [{"v": 1}, {"v": 1.0}, {"v": 2.5}, {"v": float("nan")}, {"v": float("inf")}, {}, {"v": 7},
                  {"s": "a"}, {"s": "b"}, {"s": "a"}, {"m": 1}, {"m": "1"}, {"m": True}, {"m": None},
                  {"m": ["x", 1]}, {"m": {"deep": 1}}, {"m": 1.0}]


@pytest.mark.parametrize("where, expected", [
    ({"v": 1}, [0, 1]),
    ({"v": {"$gte": 2}}, [2, 6]),
    ({"v": {"$lt": 100}}, [0, 1, 2, 6]),  # NaN and inf compare as no number: inf is not stored as one
    ({"v": {"$in": [7, 2.5]}}, [2, 6]),
    ({"v": {"$ne": 1}}, [i for i in range(17) if i not in (0, 1)]),
    ({"s": "a"}, [7, 9]),
    ({"s": {"$nin": ["a"]}}, [i for i in range(17) if i not in (7, 9)]),
    ({"m": 1}, [10, 14, 16]),  # 1 and 1.0, and the list's element; not "1" or true
    ({"m": "1"}, [11]),
    ({"m": True}, [12]),
    ({"m": None}, [13]),
    ({"m": {"$gt": 0}}, [10, 16]),  # comparisons see numbers only: not true, nor a list
])
def test_columns_of_numbers_strings_and_mixed_values(where, expected):
    """Each kind of column (numbers only, strings only, a mix with lists and objects) as equality and
    comparison define them."""
    from hashsearch.index.filters import MetadataColumns
    assert np.flatnonzero(MetadataColumns(COLUMN_RECORDS).mask(where)).tolist() == expected


def facet_reference(docs, field, ids=None):
    """Brute force: each value of ``field`` over the documents (those of ``ids`` only), list values once a row."""
    counts = Counter()
    for doc in docs:
        if ids is not None and doc["id"] not in ids or field not in doc:
            continue
        value = doc[field]
        for item in dict.fromkeys(value) if isinstance(value, list) else [value]:
            counts[item] += 1
    return sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))


def test_facets_equal_a_brute_force_count(new_db, sample_docs):
    """Facet counts over all documents, a filter's, and a query's first hits equal a count of the records
    (strings, numbers, booleans and lists), after writes too."""
    docs = [{**doc, "year": 1990 + i % 7, "tags": ["a", "b", "a"][: 1 + i % 3], "flag": i % 5 == 0}
            for i, doc in enumerate(sample_docs)]
    with Searcher.build(docs[:350], new_db(), bits=32, **FAST) as searcher:
        searcher.add(docs[350:])
        searcher.remove([doc["id"] for doc in docs[:10]])
        live = docs[10:]
        for field in ("topic", "year", "tags", "flag"):
            assert searcher.facets(field) == facet_reference(live, field)
        space = [doc for doc in live if doc["topic"] == "sci.space"]
        assert searcher.facets("year", where={"topic": "sci.space"}) == facet_reference(space, "year")
        hits = {hit.id for hit in searcher.search("rocket launch", k=50, snippets=False)}
        assert searcher.facets("topic", q="rocket launch", depth=50) == facet_reference(live, "topic", hits)
        with pytest.raises(InvalidParameterError, match=r"field must be one of the index's metadata fields"):
            searcher.facets("nope")
