"""``hashsearch serve``: the Python API over HTTP (FastAPI), and a search page that ships in the package.

A thin layer: every route calls the one ``Searcher`` the server opened, and its errors come back as
``{"error": message}`` with a 4xx status. Every route that reads the database is a ``def`` route, run in
FastAPI's thread pool: a search reads its snippets, and on PostgreSQL that is a network round trip that
must not stall the event loop. ``GET /search``, sent on every keystroke, is answered in front of the
framework's routing (``_QuickSearch``), in the same thread pool. Writes run there too, so searches go on
meanwhile from the previous snapshot; they go through the Searcher's lock and need
``Authorization: Bearer TOKEN`` (compared in constant time); without a configured token the server is
read-only. A background thread checks every ``refresh_seconds`` whether another process committed a
write (one small read) and catches up if so (``Searcher.refresh_if_changed``). ``hashsearch serve``
writes one access-log line per request from here (``_AccessLog``) instead of uvicorn's.
"""
from __future__ import annotations

import hmac
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from http import HTTPStatus
from importlib import resources
from typing import Any, Literal
from urllib.parse import parse_qsl

import anyio.to_thread
import orjson
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hashsearch.api.results import ChangeReport, Hit
from hashsearch.api.searcher import Searcher
from hashsearch.errors import DocumentNotFoundError, HashsearchError
from hashsearch.index.ranking import MODES

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 16 * 2**20  # a POST body larger than this is refused with 413
MAX_K = 1000


class SearchRequest(BaseModel):
    """``POST /search``: the keywords of ``Searcher.search``."""

    model_config = ConfigDict(extra="forbid")
    q: str
    k: int = Field(10, ge=1, le=MAX_K)
    mode: str = MODES[0]
    where: dict[str, Any] | None = None
    offset: int = Field(0, ge=0)
    max_distance: int | None = None
    snippets: bool | Literal["lead", "passage"] = True  # "passage": the query's words, marked (Hit.marks)


# GET /search's query parameters for the OpenAPI page: the request model's fields but ``where``.
_GET_SEARCH_PARAMETERS = [{"name": name, "in": "query", "schema": schema,
                           "required": name in SearchRequest.model_json_schema().get("required", [])}
                          for name, schema in SearchRequest.model_json_schema()["properties"].items()
                          if name != "where"]


class DocumentIn(BaseModel):
    """A document to add or update; fields besides ``id`` and ``text`` are its metadata."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1)
    text: str


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(searcher: Searcher, *, token: str | None = None, refresh_seconds: float | None = 5.0,
               access_log: bool = False) -> FastAPI:
    """The application around an open ``searcher``; the caller keeps ownership of it. ``access_log``:
    one line per request on standard output (``hashsearch serve`` turns uvicorn's off for it)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        stop = threading.Event()
        if refresh_seconds:
            threading.Thread(target=_refresh_loop, args=(searcher, refresh_seconds, stop), daemon=True).start()
        yield
        stop.set()

    app = FastAPI(title="hashsearch", lifespan=lifespan)

    app.add_middleware(_BodyLimit)
    app.add_middleware(_QuickSearch, searcher=searcher)
    if access_log:
        app.add_middleware(_AccessLog)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, str(exc))

    @app.exception_handler(DocumentNotFoundError)
    async def not_found(_request: Request, exc: DocumentNotFoundError) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(HashsearchError)
    async def bad_request(_request: Request, exc: HashsearchError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _invalid([{**e, "loc": e["loc"][1:]} for e in exc.errors()]))  # without "body"

    def writer(authorization: str | None = Header(None)) -> None:
        if token is None:
            raise ApiError(403, "this server is read-only: start it with --token (or HASHSEARCH_TOKEN) "
                                "to allow writes.")
        expected = f"Bearer {token}".encode()
        if not hmac.compare_digest((authorization or "").encode(), expected):  # constant time: no timing oracle
            raise ApiError(401, "writes need the header 'Authorization: Bearer TOKEN' with the server's token.")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "documents": len(searcher)}

    @app.get("/info")
    def info() -> dict[str, Any]:
        return searcher.info()

    @app.get("/search", openapi_extra={"parameters": _GET_SEARCH_PARAMETERS})
    async def search_get(request: Request) -> Response:
        """The keywords of ``POST /search`` but ``where``, as query parameters (answered by ``_QuickSearch``
        in front of the framework: this route documents them)."""
        return _search_by_query(searcher, request.query_params)

    @app.post("/search")
    def search_post(request: SearchRequest) -> Response:
        options = request.model_dump()
        query = options.pop("q")
        return _timed(lambda: searcher.search(query, **options), lambda: searcher.knows(query))

    @app.get("/similar/{doc_id:path}")
    def similar(doc_id: str, k: int = Query(10, ge=1, le=MAX_K), mode: str = MODES[0],
                offset: int = Query(0, ge=0), snippets: Literal["lead", "passage"] = "lead") -> Response:
        return _timed(lambda: searcher.similar(doc_id, k=k, mode=mode, offset=offset, snippets=snippets))

    @app.get("/facets")
    def facets(field: str, q: str | None = None, where: str | None = None,
               depth: int = Query(1000, ge=1, le=MAX_K)) -> dict[str, Any]:
        """How many matching documents hold each value of ``field`` (``Searcher.facets``): those
        ``where`` (a JSON object) matches, and with ``q`` the first ``depth`` hits of its search."""
        try:
            filters = None if where is None else orjson.loads(where)
        except orjson.JSONDecodeError:
            raise ApiError(422, "where must be a JSON object, e.g. {\"topic\": \"sci.space\"}.") from None
        started = time.perf_counter()
        counts = searcher.facets(field, q=q or None, where=filters, depth=depth)
        return {"field": field, "values": [{"value": value, "count": count} for value, count in counts],
                "took_ms": round((time.perf_counter() - started) * 1000, 3)}

    @app.get("/documents/{doc_id:path}")
    def document(doc_id: str) -> dict[str, Any]:
        found = searcher.get([doc_id])
        if not found:
            raise ApiError(404, f"no document {doc_id!r} in the index.")
        return {"id": found[0].id, "text": found[0].text, "metadata": found[0].metadata}

    @app.post("/documents", dependencies=[Depends(writer)])
    def add(documents: list[DocumentIn]) -> dict[str, Any]:
        return _counts(searcher.add([d.model_dump() for d in documents]), len(searcher))

    @app.delete("/documents/{doc_id:path}", dependencies=[Depends(writer)])
    def remove(doc_id: str) -> dict[str, Any]:
        report = searcher.remove([doc_id])
        if report.missing:
            raise ApiError(404, f"no document {doc_id!r} in the index.")
        return _counts(report, len(searcher))

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return resources.files("hashsearch").joinpath("static/index.html").read_text(encoding="utf-8")

    return app


def app_from_environment() -> FastAPI:
    """An app around its own Searcher, configured by ``hashsearch serve`` through the environment: each
    worker process of ``serve --workers N`` calls this (workers see each other's writes by refreshing)."""
    searcher = Searcher.open(os.environ["HASHSEARCH_DB"])
    refresh = float(os.environ.get("HASHSEARCH_REFRESH", "5")) or None
    return create_app(searcher, token=os.environ.get("HASHSEARCH_TOKEN") or None, refresh_seconds=refresh,
                      access_log=True)


class _BodyLimit:
    """Refuses a body over MAX_BODY_BYTES (by its Content-Length) before it is read; plain ASGI, since
    Starlette's decorator middleware costs a fraction of a millisecond on every request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > MAX_BODY_BYTES:
                await _error(413, f"the request body is {int(length):,} bytes; the limit is {MAX_BODY_BYTES:,}. "
                                  "Send fewer documents per request.")(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _AccessLog:
    """One line per request, as uvicorn's access log writes it (without colours), straight to standard
    output: through the logging module, uvicorn's cost the server 5-12% of its searches per second."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # the server's answer when the application fails before it starts one

        async def sending(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = "{}:{}".format(*scope["client"]) if scope.get("client") else ""
            query = "?" + scope["query_string"].decode("ascii", "replace") if scope["query_string"] else ""
            path = (scope["raw_path"].decode("latin-1") + query).replace('"', "%22")
            sys.stdout.write(f'INFO:     {client} - "{scope["method"]} {path} HTTP/{scope["http_version"]}" '
                             f"{status} {_PHRASES.get(status, '')}\n")
            sys.stdout.flush()


_PHRASES = {status.value: status.phrase for status in HTTPStatus}


class _QuickSearch:
    """Answers ``GET /search``, the request a search box sends on every keystroke, before the framework's
    routing, dependency solving and exception middleware, which together took half as long as the
    search itself; its errors are the routes' (422 for a malformed request, 400 for a bad parameter)."""

    def __init__(self, app: Any, searcher: Searcher) -> None:
        self.app = app
        self.searcher = searcher

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == "/search":
            query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
            # The search reads snippets from the database (network I/O on PostgreSQL): off the event loop.
            response = await anyio.to_thread.run_sync(_search_by_query, self.searcher, query)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _search_by_query(searcher: Searcher, params: Mapping[str, str]) -> Response:
    """The hits for query parameters, validated by the request model (FastAPI's per-parameter machinery
    took half as long as the search), or the error."""
    try:
        options = SearchRequest.model_validate(dict(params)).model_dump()
        query = options.pop("q")
        return _timed(lambda: searcher.search(query, **options), lambda: searcher.knows(query))
    except ValidationError as exc:
        return _error(422, _invalid(exc.errors()))
    except HashsearchError as exc:
        return _error(400, str(exc))


def _timed(search: Callable[[], list[Hit]], knows: Callable[[], bool] | None = None) -> Response:
    """Hits as JSON, serialised directly by orjson: FastAPI's generic encoder took several times the
    search, and orjson writes ten hits in 0.7 us, ``json.dumps`` in 15."""
    started = time.perf_counter()
    hits = search()
    took = round((time.perf_counter() - started) * 1000, 3)
    body: dict[str, Any] = {"hits": [{"id": h.id, "distance": h.distance, "snippet": h.snippet, "score": h.score,
                                      "marks": h.marks, "title": h.title, "metadata": h.metadata} for h in hits],
                            "took_ms": took}
    if not hits and knows is not None and not knows():  # say why: nothing is known about the query
        body["reason"] = "none of the query's words is in the index"
    return Response(orjson.dumps(body), media_type="application/json")


def _counts(report: ChangeReport, documents: int) -> dict[str, Any]:
    """What the CLI prints after a write."""
    return {"added": report.added, "updated": report.updated, "removed": report.removed,
            "unchanged": report.unchanged, "documents": documents, "skipped_empty": report.skipped_empty,
            "seconds": round(report.seconds, 3)}


def _invalid(errors: Sequence[Mapping[str, Any]]) -> str:
    """One line for validation errors, each where (``loc``) and what."""
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors)
    return f"invalid request: {problems}."


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _refresh_loop(searcher: Searcher, seconds: float, stop: threading.Event) -> None:
    while not stop.wait(seconds):
        try:
            searcher.refresh_if_changed()
        except Exception as exc:  # a database briefly unreachable: keep serving the last snapshot
            logger.warning("could not check the index for changes: %s", exc)
