"""The ``hashsearch`` command: options map onto ``Searcher`` keywords; no logic lives here."""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from hashsearch.errors import HashsearchError
from hashsearch.index.modes import MODES
from hashsearch.text.records import typed_value

if TYPE_CHECKING:
    from hashsearch.api.results import Hit
    from hashsearch.api.searcher import Searcher

db_option = click.option("--db", envvar="HASHSEARCH_DB", default="hashsearch.db", show_default=True,
                         help="Index database: a SQLite file path or a postgresql:// URL (env: HASHSEARCH_DB).")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")


def read_options(command: Any) -> Any:
    """The options ``index`` and ``add`` share: which fields of a record make a document."""
    options = [
        click.option("--id-field", default=None, help="The field holding each document's id (default: id)."),
        click.option("--text-field", multiple=True,
                     help="A field holding text; repeat it to join several, e.g. --text-field title "
                          "--text-field body (default: text)."),
        click.option("--title-field", default=None, help="The field to show as each document's title."),
        click.option("--keep-strings", is_flag=True, default=None,
                     help="Keep CSV values as strings (by default numbers and true/false are typed)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn hashsearch's own errors into a one-line message and exit code 1."""
    try:
        yield
    except HashsearchError as exc:
        raise click.ClickException(str(exc)) from None


def print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--version``: the package's version, read only when asked for."""
    if value and not ctx.resilient_parsing:
        import hashsearch

        click.echo(f"hashsearch, version {hashsearch.__version__}")
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=print_version,
              help="Show the version and exit.")
def main() -> None:
    """Semantic hashing search: learn short binary codes for your documents and search them."""


@main.command()
@click.argument("source")
@db_option
@click.option("--bits", type=int, default=None,
              help="Code length in bits: 16, 32, 64 or 128 (new index: 64). Longer codes separate finer topics.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Fixes training: same corpus and seed, same codes.")
@click.option("--epochs", type=int, default=None,
              help="Training epochs (default: about 2,500 steps, 5 to 60 epochs, fewer once the codes settle).")
@click.option("--variant", default=None,
              help="Model variant: variational (default), bernoulli, noise or denoising.")
@click.option("--neighbours", type=int, default=None,
              help="Each document learns to reconstruct the words of this many nearest documents (itself included).")
@click.option("--max-features", type=int, default=None, help="Vocabulary size cap (default 10,000 terms).")
@click.option("--weighting", default=None, help="Word weights: bm25 (default), tfidf or log.")
@click.option("--language", default=None,
              help="Text analysis: the stemmer and stop words of this language (english by default; "
                   "french, german, russian, ... or none for words as written).")
@click.option("--device", default=None, help="Training device: cpu, cuda or auto.")
@click.option("--retrain", is_flag=True,
              help="Re-learn vocabulary and model and re-encode everything; the old index answers until done.")
@click.option("--prune", is_flag=True,
              help="Remove indexed documents that SOURCE no longer holds (without it they are kept and listed).")
@read_options
@quiet_option
def index(source: str, db: str, retrain: bool, prune: bool, quiet: bool, **options: Any) -> None:
    """Index SOURCE: a folder of text, Markdown and HTML files, or a .jsonl, .json, .csv (each also .gz)
    or .parquet file of records (fields id and text, or those named by --id-field and --text-field).

    The first run trains a model; later runs add new documents and re-encode changed ones with that
    model (use --retrain to learn a new one). Indexed documents SOURCE lacks are listed, and removed
    only with --prune.
    """
    from hashsearch.api.searcher import Searcher  # here, not at import: --help stays light

    chosen = {name: value for name, value in options.items() if value not in (None, ())}
    if chosen.get("language") == "none":
        chosen["language"] = None
    with user_errors(), Searcher.index(source, db, retrain=retrain, prune=prune, quiet=quiet, **chosen) as searcher:
        _echo_change(searcher, db, prune=prune)


@main.command()
@click.argument("source")
@db_option
@read_options
@quiet_option
def add(source: str, db: str, quiet: bool, **options: Any) -> None:
    """Add or update the documents in SOURCE (as for index, or - for JSON lines on stdin)."""
    from hashsearch.api.searcher import Searcher  # here, not at import: --help stays light

    chosen = {name: value for name, value in options.items() if value not in (None, ())}
    with user_errors(), Searcher.open(db) as searcher:
        searcher.add(source, quiet=quiet, **chosen)
        _echo_change(searcher, db)


@main.command()
@click.argument("ids", nargs=-1, required=True)
@db_option
def remove(ids: tuple[str, ...], db: str) -> None:
    """Remove documents by id."""
    from hashsearch.api.searcher import Searcher  # here, not at import: --help stays light

    with user_errors(), Searcher.open(db, lazy=True) as searcher:
        searcher.remove(ids)
        _echo_change(searcher, db)


def parse_where(expressions: tuple[str, ...]) -> dict[str, Any] | None:
    """``--where`` options to a ``where`` dict: ``FIELD=VALUE``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, or
    ``FIELD in A,B``; values are JSON where they parse (numbers, true, false), else strings; several
    options must all hold."""
    clauses = []
    for expression in expressions:
        match = _WHERE.fullmatch(expression.strip())
        if not match:
            raise click.BadParameter(f"{expression!r} is not FIELD=VALUE, FIELD!=VALUE, FIELD>VALUE, FIELD>=VALUE, "
                                     "FIELD<VALUE, FIELD<=VALUE or FIELD in A,B.", param_hint="--where")
        field, operator, value = match.group("field"), match.group("op").strip(), match.group("value").strip()
        if operator == "in":
            clauses.append({field: {"$in": [typed_value(v.strip()) for v in value.split(",")]}})
        else:
            clauses.append({field: {_OPERATORS[operator]: typed_value(value)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


_WHERE = re.compile(r"(?P<field>[^\s=!<>]+)\s*(?P<op>!=|>=|<=|=|>|<|\s+in\s+)(?P<value>.*)")
_OPERATORS = {"=": "$eq", "!=": "$ne", ">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte"}


def hit_options(command: Any) -> Any:
    """The options ``query`` and ``similar`` share; each maps onto the keyword of the same name."""
    options = [
        db_option,
        click.option("-k", "--top", "k", type=int, default=10, show_default=True, help="How many hits to return."),
        click.option("--mode", type=click.Choice(MODES), default=MODES[0], show_default=True,
                     help="hybrid: words and code scored together; hamming: nearest codes only (fastest)."),
        click.option("--where", "where", multiple=True, metavar="FILTER",
                     help="Metadata filter, repeatable: FIELD=VALUE, FIELD!=VALUE, FIELD>VALUE (>=, <, <=) or "
                          "'FIELD in A,B'. Values are numbers or true/false where they parse."),
        click.option("--offset", type=int, default=0, show_default=True, help="Skip this many hits (pages)."),
        click.option("--max-distance", type=int, default=None, help="No hit farther than this many bits."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@main.command()
@click.argument("text")
@hit_options
@click.option("--radius", type=int, default=None,
              help="Hamming radius probed bucket by bucket before a full scan (default: by code length).")
@json_option
def query(text: str, db: str, where: tuple[str, ...], as_json: bool, **options: Any) -> None:
    """Search the index for TEXT and print the best documents."""
    from hashsearch.api.searcher import Searcher  # here, not at import: --help stays light

    filters = parse_where(where)
    with user_errors(), Searcher.open(db) as searcher:
        _echo_hits(searcher.search(text, where=filters, snippets="passage", **options), as_json)


@main.command()
@click.argument("doc_id", metavar="ID")
@hit_options
@json_option
def similar(doc_id: str, db: str, where: tuple[str, ...], as_json: bool, **options: Any) -> None:
    """Print the documents most like the indexed document ID (the document itself left out)."""
    from hashsearch.api.searcher import Searcher  # here, not at import: --help stays light

    filters = parse_where(where)
    with user_errors(), Searcher.open(db) as searcher:
        _echo_hits(searcher.similar(doc_id, where=filters, **options), as_json)


@main.command()
@click.argument("ids", nargs=-1, required=True)
@db_option
@json_option
def get(ids: tuple[str, ...], db: str, as_json: bool) -> None:
    """Print the documents with these ids (text and metadata); ids not in the index are reported."""
    from hashsearch.api.searcher import Searcher  # here, not at import: --help stays light

    with user_errors(), Searcher.open(db, lazy=True) as searcher:
        documents = searcher.get(ids)
    if as_json:
        click.echo(json.dumps([{"id": d.id, "text": d.text, "metadata": d.metadata} for d in documents],
                              ensure_ascii=False, indent=2))
    else:
        for document in documents:
            click.echo(click.style(f"== {document.id}", bold=True)
                       + (f"  {json.dumps(document.metadata, ensure_ascii=False)}" if document.metadata else ""))
            click.echo(document.text.rstrip("\n"))
    missing = [i for i in dict.fromkeys(ids) if i not in {d.id for d in documents}]
    if missing:
        click.echo(f"Not in the index: {', '.join(missing)}", err=True)
        raise SystemExit(1)


def _echo_hits(hits: list[Hit], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([hit.to_dict() for hit in hits], ensure_ascii=False, indent=2))
        return
    if not hits:
        click.echo("No hits.")
    for rank, hit in enumerate(hits, start=1):
        click.echo(_format_hit(rank, hit, width=max(len(h.id) for h in hits)))


@main.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the figures as a JSON object.")
def info(db: str, as_json: bool) -> None:
    """Show what the index holds, how its codes are spread, and whether a retrain would help."""
    from hashsearch.api.searcher import Searcher  # here, not at import: --help stays light

    with user_errors(), Searcher.open(db, lazy=True) as searcher:  # info reads what it needs
        facts = searcher.info()
    if as_json:
        click.echo(json.dumps(facts, indent=2))
        return
    shares = facts["bit_on_share"]
    click.echo(f"{facts['database']}: {facts['documents']} documents, {facts['bits']}-bit codes "
               f"({facts['variant']} model trained {facts['trained_at']} on {facts['training_documents']} documents, "
               f"{facts['vocabulary_size']} terms)")
    click.echo(f"codes: {facts['distinct_codes']} distinct, largest bucket {facts['largest_bucket']}; "
               f"share of documents with each bit on: {min(shares):.2f} to {max(shares):.2f}")
    click.echo(f"words missing from the vocabulary: {facts['recent_oov_share']:.1%} in recent documents, "
               f"{facts['training_oov_share']:.1%} at training")
    for advice in facts["advice"]:
        click.echo(advice)
    if facts["example_queries"]:
        click.echo("words to try: " + ", ".join(facts["example_queries"]))


@main.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (127.0.0.1: this machine only).")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--token", envvar="HASHSEARCH_TOKEN", default=None,
              help="Bearer token that allows writes (env: HASHSEARCH_TOKEN); without one the server is read-only.")
@click.option("--refresh", "refresh_seconds", type=float, default=5.0, show_default=True,
              help="Seconds between checks for writes by other processes (0: never).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Server processes, each with its own copy of the index in memory (more searches per second).")
def serve(db: str, host: str, port: int, token: str | None, refresh_seconds: float, workers: int) -> None:
    """Serve the index over HTTP (JSON API, OpenAPI page at /docs) with a search page at /."""
    from hashsearch.api.searcher import Searcher  # here, not at import: --help stays light

    try:
        import uvicorn

        from hashsearch.server import create_app
    except ModuleNotFoundError as exc:
        raise click.ClickException(f"the server needs {exc.name!r}: pip install 'hashsearch[server]'.") from None
    # Each request encodes one query: threads of a math library would only contend with the other
    # requests and workers (two workers on 2 cores under wrk: 144 searches/s with torch's default
    # threads, 1,591 with one).
    os.environ["OMP_NUM_THREADS"] = "1"  # for the worker processes, which read it as they start
    _check_port_free(host, port)
    with user_errors(), Searcher.open(db) as searcher:
        click.echo(f"Serving {len(searcher):,} documents from {db} on http://{host}:{port} "
                   f"({'writes need the token' if token else 'read-only: no --token'}); Ctrl-C stops.", err=True)
        if workers == 1:
            uvicorn.run(create_app(searcher, token=token, refresh_seconds=refresh_seconds or None, access_log=True),
                        host=host, port=port, log_level="info", access_log=False)
            return
    os.environ.update({"HASHSEARCH_DB": db, "HASHSEARCH_TOKEN": token or "",
                       "HASHSEARCH_REFRESH": str(refresh_seconds)})
    uvicorn.run("hashsearch.server:app_from_environment", factory=True, workers=workers, host=host, port=port,
                log_level="info", access_log=False)  # the app writes one line per request, at less cost


def _check_port_free(host: str, port: int) -> None:
    """A one-line error, before the index is read, when ``host:port`` cannot be listened on."""
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port} ({exc.strerror or exc}). Stop the program "
                                   "that holds the port, or give another --port.") from None


def _format_hit(rank: int, hit: Hit, width: int) -> str:
    score = "" if hit.score is None else f"score={hit.score:.3f}  "
    snippet = _marked(hit.snippet or "", hit.marks or [], limit=120)
    return f"{rank:>3}  d={hit.distance:<3} {score}{hit.id:<{width}}  {snippet}"


def _marked(snippet: str, marks: list[tuple[int, int]], limit: int) -> str:
    """The first ``limit`` characters of a snippet, dim, with the query's words (``marks``) in bold."""
    out, at = [], 0
    for start, end in marks:
        if start >= limit:
            break
        out += [click.style(snippet[at:start], dim=True), click.style(snippet[start:min(end, limit)], bold=True)]
        at = min(end, limit)
    return "".join(out) + click.style(snippet[at:limit], dim=True)


def _echo_change(searcher: Searcher, db: str, *, prune: bool = False) -> None:
    report = searcher.last_change
    assert report is not None  # every write sets it
    parts = [f"{report.added} added", f"{report.updated} updated", f"{report.removed} removed",
             f"{report.unchanged} unchanged"]
    click.echo(f"{db}: {', '.join(parts)}; {len(searcher)} documents, {searcher.bits}-bit codes "
               f"({report.seconds:.1f} s).")
    for label, ids in (("empty", report.skipped_empty), ("binary", report.skipped_binary),
                       ("not in the index", report.missing)):
        if ids:
            click.echo(f"Skipped {len(ids)} {label}: {_some(ids)}", err=True)
    if report.not_in_source:
        verb, hint = ("Removed", "") if prune else ("Kept", " (--prune removes them)")
        click.echo(f"{verb} {len(report.not_in_source)} indexed documents not in the source{hint}: "
                   f"{_some(report.not_in_source)}", err=True)
    for path, encoding in report.guessed_encodings.items():
        click.echo(f"Read {path} as {encoding} (not UTF-8; guessed from its bytes).", err=True)


def _some(ids: list[str], shown: int = 5) -> str:
    return ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")
