"""Every route and error of the HTTP API through FastAPI's test client, on both backends."""
import hmac
import inspect
import threading
import time
from http import HTTPStatus

import pytest
from fastapi.testclient import TestClient

from hashsearch import Searcher
from hashsearch.server import MAX_BODY_BYTES, create_app
from tests.conftest import FAST

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def served(new_db, sample_docs):
    """A fresh small index (its documents carry a topic field) behind a server that allows writes."""
    db = new_db()
    with (Searcher.build(sample_docs[::5], db, bits=32, **FAST) as searcher,
          TestClient(create_app(searcher, token=TOKEN, refresh_seconds=0.1)) as client):
        yield client, searcher, db


@pytest.fixture()
def read_only(built_db):
    with Searcher.open(built_db) as searcher, TestClient(create_app(searcher, refresh_seconds=None)) as client:
        yield client, searcher


def test_health_and_info(read_only):
    client, searcher = read_only
    assert client.get("/health").json() == {"status": "ok", "documents": 400}
    info = client.get("/info").json()
    assert info["documents"] == 400 and info["bits"] == 32 and set(info) >= {
        "bit_on_share", "bucket_size_histogram", "training_loss", "retrain_advised", "metadata_fields"}
    assert sum(info["bucket_size_histogram"].values()) == info["distinct_codes"]
    assert info["metadata_fields"] == ["topic"]
    examples = info["example_queries"]  # words the index knows, to try
    assert len(examples) == 6 and all(searcher.knows(word) and searcher.search(word, k=1) for word in examples)


def test_search_get_and_post_answer_as_the_library_does(read_only):
    client, searcher = read_only
    expected = [hit.to_dict() for hit in searcher.search("rocket launch", k=5)]
    body = client.get("/search", params={"q": "rocket launch", "k": 5}).json()
    assert body["hits"] == expected and body["took_ms"] >= 0
    for params in ({"q": "Raketenstart über dem Meer: rocket", "k": 3}, {"q": "moon", "mode": "hamming", "offset": 2,
                                                                         "max_distance": 20}):
        options = {name: value for name, value in params.items() if name != "q"}
        assert client.get("/search", params=params).json()["hits"] == [
            hit.to_dict() for hit in searcher.search(params["q"], **options)]
    body = client.post("/search", json={"q": "rocket launch", "k": 5, "where": {"topic": "sci.med"},
                                        "mode": "hamming", "offset": 2, "max_distance": 20}).json()
    assert body["hits"] == [hit.to_dict() for hit in searcher.search(
        "rocket launch", k=5, where={"topic": "sci.med"}, mode="hamming", offset=2, max_distance=20)]


def test_similar_and_documents(read_only):
    client, searcher = read_only
    doc_id = "sci.space/59904.txt"
    assert client.get(f"/similar/{doc_id}", params={"k": 3}).json()["hits"] == [
        hit.to_dict() for hit in searcher.similar(doc_id, k=3)]
    document = client.get(f"/documents/{doc_id}").json()
    assert document["id"] == doc_id and document["metadata"] == {"topic": "sci.space"}
    assert document["text"] == searcher.get([doc_id])[0].text


@pytest.mark.parametrize("method,url,kwargs,status,message", [
    ("get", "/search", {"params": {"q": "  "}}, 400, "the query is empty. Give some words to search for."),
    ("get", "/search", {"params": {"q": "moon", "mode": "cosine"}}, 400,
     "mode must be one of hybrid, hamming. Got 'cosine' instead."),
    ("post", "/search", {"json": {"q": "moon", "where": {"colour": "red"}}}, 400,
     "no document has a metadata field 'colour'. Fields: topic."),
    ("post", "/search", {"json": {"q": "moon", "max_distance": 99}}, 400,
     "max_distance must be an int in [0, 32]. Got 99 instead."),
    ("get", "/search", {"params": {"q": "moon", "k": 0}}, 422,
     "invalid request: k: Input should be greater than or equal to 1."),
    ("get", "/search", {"params": {"k": 3}}, 422, "invalid request: q: Field required."),
    ("get", "/search", {"params": {"q": "moon", "k": "ten"}}, 422,
     "invalid request: k: Input should be a valid integer, unable to parse string as an integer."),
    ("get", "/search", {"params": {"q": "moon", "colour": "red"}}, 422,
     "invalid request: colour: Extra inputs are not permitted."),
    ("post", "/search", {"json": {"k": 3}}, 422, "invalid request: q: Field required."),
    ("post", "/search", {"json": {"q": "moon", "colour": 1}}, 422,
     "invalid request: colour: Extra inputs are not permitted."),
    ("get", "/similar/ghost", {}, 404, "no document 'ghost' in the index. Give the id of an indexed document."),
    ("get", "/documents/ghost", {}, 404, "no document 'ghost' in the index."),
    ("post", "/documents", {"json": [{"id": "x", "text": "y"}]}, 403,
     "this server is read-only: start it with --token (or HASHSEARCH_TOKEN) to allow writes."),
    ("delete", "/documents/sci.space/59904.txt", {}, 403,
     "this server is read-only: start it with --token (or HASHSEARCH_TOKEN) to allow writes."),
])
def test_bad_requests_get_a_4xx_and_the_message(read_only, method, url, kwargs, status, message):
    client, searcher = read_only
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == status and response.json() == {"error": message}
    assert len(searcher) == 400  # nothing written


def test_writes_need_the_token(served):
    client, searcher, _ = served
    document = [{"id": "new", "text": "a rocket to the moon", "topic": "sci.space"}]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = client.post("/documents", json=document, headers=headers)
        assert response.status_code == 401 and response.json() == {
            "error": "writes need the header 'Authorization: Bearer TOKEN' with the server's token."}
        assert client.delete("/documents/new", headers=headers).status_code == 401
    assert searcher.get(["new"]) == []


def test_add_then_delete(served):
    client, searcher, _ = served
    before = len(searcher)
    response = client.post("/documents", json=[{"id": "new", "text": "a rocket to the moon", "topic": "sci.space"}],
                           headers=AUTH)
    assert response.status_code == 200
    assert {k: response.json()[k] for k in ("added", "updated", "removed", "documents")} == {
        "added": 1, "updated": 0, "removed": 0, "documents": before + 1}
    assert client.get("/documents/new").json()["metadata"] == {"topic": "sci.space"}
    assert "new" in {h["id"] for h in client.get("/search", params={"q": "rocket moon", "k": 80}).json()["hits"]}
    response = client.delete("/documents/new", headers=AUTH)
    assert response.json()["removed"] == 1 and response.json()["documents"] == before
    assert client.delete("/documents/new", headers=AUTH).status_code == 404
    bad = client.post("/documents", json=[{"id": "", "text": "x"}], headers=AUTH)
    assert bad.status_code == 422 and bad.json()["error"].startswith("invalid request: 0.id:")


def test_a_body_over_the_limit_is_refused(served):
    client, searcher, _ = served
    response = client.post("/documents", content=b"[" + b" " * MAX_BODY_BYTES + b"]", headers={
        **AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["error"].startswith("the request body is ")


def test_the_server_sees_another_processes_commits(served, sample_docs):
    client, searcher, db = served
    before = len(searcher)
    with Searcher.open(db) as other:
        other.add([{"id": "from-elsewhere", "text": "written by another process"}])
    deadline = time.monotonic() + 10
    while client.get("/health").json()["documents"] == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("/health").json()["documents"] == before + 1
    assert client.get("/documents/from-elsewhere").status_code == 200


def test_the_search_page_is_served(read_only):
    client, _ = read_only
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert '<input id="query"' in response.text and "://" not in response.text  # nothing fetched from elsewhere
    assert client.get("/openapi.json").json()["info"]["title"] == "hashsearch"


def test_one_access_log_line_per_request(built_db, capsys):
    with Searcher.open(built_db) as searcher, TestClient(create_app(searcher, access_log=True)) as client:
        client.get("/search", params={"q": 'rocket "launch"', "k": 2})
        client.get("/documents/ghost")
        client.post("/search", json={"k": 3})
    assert capsys.readouterr().out.splitlines() == [
        'INFO:     testclient:50000 - "GET /search?q=rocket+%22launch%22&k=2 HTTP/1.1" 200 OK',
        'INFO:     testclient:50000 - "GET /documents/ghost HTTP/1.1" 404 Not Found',
        f'INFO:     testclient:50000 - "POST /search HTTP/1.1" 422 {HTTPStatus(422).phrase}',  # renamed in 3.13
    ]


def test_routes_that_read_the_database_run_off_the_event_loop(read_only, monkeypatch):
    """Every route that reads the database is a ``def`` route (FastAPI runs it in its thread pool), and the
    quick ``GET /search`` path searches in a worker thread too: on PostgreSQL a read is a network round trip."""
    client, searcher = read_only
    reading = {"/search", "/similar/{doc_id:path}", "/documents/{doc_id:path}", "/info", "/documents", "/"}
    routes = {route.path: route.endpoint for route in client.app.routes if getattr(route, "path", None) in reading}
    assert set(routes) == reading
    assert [path for path, endpoint in routes.items()
            if inspect.iscoroutinefunction(endpoint) and path != "/search"] == []
    threads = []
    search = searcher.search
    monkeypatch.setattr(searcher, "search", lambda *a, **kw: threads.append(threading.get_ident()) or search(*a, **kw))
    for request in (lambda: client.get("/search", params={"q": "space"}),
                    lambda: client.post("/search", json={"q": "space"})):
        assert request().status_code == 200
    event_loop_thread = client.portal.call(threading.get_ident)
    assert len(threads) == 2 and event_loop_thread not in threads


def test_the_token_is_compared_in_constant_time(served, monkeypatch):
    """The write token goes through ``hmac.compare_digest``; a token of another length, a prefix of it and
    the token with another scheme are all refused."""
    client, _, _ = served
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    for header in (f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN):
        assert client.delete("/documents/x", headers={"Authorization": header}).status_code == 401
    assert client.delete("/documents/nothing-here", headers=AUTH).status_code == 404  # past the check
    assert len(compared) == 5 and compared[-1] == (AUTH["Authorization"].encode(),) * 2


def test_search_passages_carry_their_marks(read_only):
    client, _ = read_only
    for response in (client.post("/search", json={"q": "hockey playoffs", "k": 3, "snippets": "passage"}),
                     client.get("/search", params={"q": "hockey playoffs", "k": 3, "snippets": "passage"})):
        hits = response.json()["hits"]
        assert response.status_code == 200 and hits and all(hit["marks"] for hit in hits)
    assert client.get("/search", params={"q": "hockey", "snippets": "best"}).status_code == 422


def test_facets_route_counts_as_the_library_does(read_only):
    client, searcher = read_only
    body = client.get("/facets", params={"field": "topic"}).json()
    assert [(v["value"], v["count"]) for v in body["values"]] == searcher.facets("topic")
    assert sum(v["count"] for v in body["values"]) == 400
    body = client.get("/facets", params={"field": "topic", "q": "hockey playoffs", "depth": 20}).json()
    assert [(v["value"], v["count"]) for v in body["values"]] == searcher.facets("topic", q="hockey playoffs",
                                                                                     depth=20)
    assert client.get("/facets", params={"field": "topic", "where": "{bad"}).status_code == 422
    assert client.get("/facets", params={"field": "nope"}).status_code == 400


def test_no_hits_says_why_when_no_word_is_known(read_only):
    client, searcher = read_only
    for response in (client.get("/search", params={"q": "zzqxw blorf"}), client.post("/search", json={"q": "zzqxw"})):
        assert response.status_code == 200
        body = response.json()
        assert body["hits"] == [] and body["reason"] == "none of the query's words is in the index"
    assert "reason" not in client.get("/search", params={"q": "hockey"}).json()
    assert not searcher.knows("zzqxw blorf") and searcher.knows("zzqxw hockey")
