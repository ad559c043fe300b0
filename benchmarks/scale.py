"""Scale: a streaming build from a file of N documents, its peak memory and stages, then the index it
made: open time, query latency, what a search reads per document, a server's memory, disk.

    python benchmarks/scale.py --documents 10000000 [--postgres URL] [--work-dir DIR]

The corpus is written first to a Parquet (or JSON-lines) file in ``--work-dir`` (kept, and reused by a later run of
the same size): the 20 Newsgroups and Reuters texts, topped up as ``benchmarks/speed.py`` does
(synthetic documents resampling the words of a random real one), each with a number field ``bucket``
and a string field ``lang``. The build runs in a process of its own (``Searcher.build`` of the file:
the streaming build reads it twice), whose peak RSS is reported; a second process opens the index the
first time (building the main segment from the stored rows and saving it); a third opens it again and
times 1,000 whole 20NG test posts and their Subject lines as queries (k=10, one thread, the database
in the page cache), and reports its RSS after the first of those openings (what one server holds)
and after the second. Writes the scale section of RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.datasets import DEFAULT_DIR, load_text, title  # noqa: E402
from benchmarks.quality import write_section  # noqa: E402
from benchmarks.speed import cpu_model, snapshot_bytes  # noqa: E402

STAGES = ("reading", "training", "vectorizing", "encoding", "storing")


def write_corpus(path: Path, size: int, data_dir: Path, skip_queries: int) -> None:
    """``size`` documents streamed to ``path``, Parquet (zstd, row groups of 50,000) or JSON lines by its
    suffix: the real texts, then synthetic ones."""
    ng_train, ng_test = load_text("20ng", data_dir)
    rt_train, rt_test = load_text("reuters", data_dir)
    real = ng_train.texts + rt_train.texts + rt_test.texts + ng_test.texts[skip_queries:]
    tokenised = [t.split() or ["empty"] for t in real]
    rng = random.Random(size)

    def records(start: int, stop: int) -> list[dict]:
        out = []
        for i in range(start, stop):
            if i < len(real):
                text = real[i]
            else:
                words = tokenised[rng.randrange(len(tokenised))]
                text = " ".join(rng.choices(words, k=len(words)))
            out.append({"id": f"doc-{i}", "text": text, "bucket": i * 7919 % 1000, "lang": ("en", "de", "fr")[i % 3]})
        return out

    partial = path.with_name(path.name + ".partial")
    step = 50_000
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("bucket", pa.int64()), ("lang", pa.string())])
        with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
            for start in range(0, size, step):
                writer.write_table(pa.Table.from_pylist(records(start, min(size, start + step)), schema=schema))
    else:
        with partial.open("w", encoding="utf-8") as out:
            for start in range(0, size, step):
                out.writelines(json.dumps(r) + "\n" for r in records(start, min(size, start + step)))
    partial.rename(path)


def build(corpus: str, db: str) -> None:
    """The build process: the streaming build alone; prints its report and peak RSS as JSON."""
    import torch

    from hashsearch.api.writer import build_index

    torch.set_num_threads(2)
    _, report = build_index(corpus, db, bits=64)
    print(json.dumps({"seconds": report.seconds, "stages": report.stage_seconds, "added": report.added,
                      "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "commit": commit()}))


def first_open(db: str) -> None:
    """The first opening, in a process of its own: reads every document's code and word counts anew,
    builds the main segment and saves it for later openings; prints its time and peak RSS as JSON."""
    from hashsearch import Searcher

    started = time.perf_counter()
    Searcher.open(db).close()
    print(json.dumps({"seconds": time.perf_counter() - started,
                      "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "commit": commit()}))


def measure(db: str, data_dir: Path, queries: int) -> None:
    """The query process: opens the index twice (the first open also warms the page cache) and times queries."""
    import faiss
    import torch

    from hashsearch import Searcher

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    posts = load_text("20ng", data_dir)[1].texts[:queries]
    subjects = [title(q) or " ".join(q.split()[:5]) for q in posts]
    # As on a machine that never opened it: the saved segment's pieces read from the database.
    os.environ["HASHSEARCH_SEGMENT_CACHE"], kept = "off", os.environ.get("HASHSEARCH_SEGMENT_CACHE")
    started = time.perf_counter()
    Searcher.open(db).close()
    open_database = time.perf_counter() - started
    os.environ.pop("HASHSEARCH_SEGMENT_CACHE")
    if kept is not None:
        os.environ["HASHSEARCH_SEGMENT_CACHE"] = kept
    opens, first_rss, first_peak = [], 0, 0
    for _ in range(2):
        started = time.perf_counter()
        searcher = Searcher.open(db)
        opens.append(time.perf_counter() - started)
        if len(opens) == 1:  # a server once started (the first searcher's memory is not all given back)
            first_rss, first_peak = _current_rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            searcher.close()
    rss = _current_rss()
    size = len(searcher._snapshot.main.ids)
    searcher.search(posts[0])

    def median_ms(texts: list[str]) -> float:
        times = []
        for text in texts:
            started = time.perf_counter()
            searcher.search(text, k=10)
            times.append(time.perf_counter() - started)
        return float(np.median(times) * 1000)

    print(json.dumps({"documents": size, "open_database": open_database, "open_first": opens[0],
                      "open_saved": opens[1], "disk": database_bytes(db),
                      "posts_ms": median_ms(posts), "subjects_ms": median_ms(subjects),
                      "search_bytes": snapshot_bytes(searcher) / size, "rss_after_open": rss,
                      "rss_after_first_open": first_rss, "first_open_peak": first_peak, "commit": commit()}))


def _opens(measured: dict) -> str:
    """The measured openings' seconds, the one from the database first when it was measured."""
    seconds = [measured[name] for name in ("open_database", "open_first", "open_saved") if name in measured]
    return " / ".join(f"{value:.2f}" for value in seconds)


def database_bytes(db: str) -> int:
    """The database's size on disk: the SQLite file and its WAL, or PostgreSQL's tables with their
    indexes and TOAST."""
    if "://" not in db:
        return sum(Path(db + suffix).stat().st_size for suffix in ("", "-wal") if Path(db + suffix).exists())
    import sqlalchemy as sa

    from hashsearch.store.storage import database_url

    engine = sa.create_engine(database_url(db))
    with engine.connect() as conn:
        size = conn.execute(sa.text("SELECT sum(pg_total_relation_size(oid)) FROM pg_class WHERE relkind = 'r' "
                                    "AND relname LIKE 'hashsearch%' AND pg_table_is_visible(oid)")).scalar()
    engine.dispose()
    return int(size or 0)


def _commits(built: dict, opened: dict, measured: dict) -> str:
    """The commit each stage ran at, once when they agree."""
    stages = {"build": built.get("commit"), "first open": opened.get("commit"), "queries": measured.get("commit")}
    if len(set(stages.values())) == 1:
        return str(stages["build"] or commit())
    return ", ".join(f"{name} {at}" for name, at in stages.items())


def _current_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def run_json(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"{args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=Path(__file__).parent).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=10_000_000)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/hashsearch-scale"))
    parser.add_argument("--postgres", default=None, help="build into this PostgreSQL URL instead of a SQLite file")
    parser.add_argument("--format", choices=("parquet", "jsonl"), default="parquet", help="the corpus file's format")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--section", default="scale")
    parser.add_argument("--stage", choices=("build", "open", "measure"), help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--report-from", type=Path, help="write the table from a run's log instead of running")
    args = parser.parse_args()
    if args.stage == "build":
        return build(args.corpus, args.db)
    if args.stage == "open":
        return first_open(args.db)
    if args.stage == "measure":
        return measure(args.db, args.data_dir, args.queries)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    corpus = args.work_dir / f"corpus-{args.documents}.{args.format}"
    if not corpus.exists():
        started = time.perf_counter()
        write_corpus(corpus, args.documents, args.data_dir, args.queries)
        print(f"wrote {corpus} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    db = args.postgres or str(args.work_dir / f"index-{args.documents}.db")
    if args.report_from:  # the three JSON lines a run logged (built, opened, then measured)
        logged = [json.loads(line) for line in args.report_from.read_text().splitlines() if line.startswith("{")]
        built, opened, measured = logged[-3:]
    else:
        if not args.postgres:
            for suffix in ("", "-wal", "-shm"):
                Path(db + suffix).unlink(missing_ok=True)
        built = run_json("--stage", "build", "--corpus", str(corpus), "--db", db)
        print(json.dumps(built), file=sys.stderr)
        opened = run_json("--stage", "open", "--db", db)
        print(json.dumps(opened), file=sys.stderr)
        measured = run_json("--stage", "measure", "--db", db, "--data-dir", str(args.data_dir),
                            "--queries", str(args.queries))
        print(json.dumps(measured), file=sys.stderr)
    section = table(args, corpus, built, opened, measured)
    print(section)
    write_section(args.section + ("-postgres" if args.postgres else ""), section)


def table(args: argparse.Namespace, corpus: Path, built: dict, opened: dict, measured: dict) -> str:
    n = built["added"]
    disk = f"{measured['disk'] / n:,.0f}" if "disk" in measured else "n/a"
    stages = built["stages"]
    backend = "PostgreSQL" if args.postgres else "SQLite"
    lines = [
        f"## Scale: a streaming build of {n:,} documents", "",
        f"Command: `python benchmarks/scale.py --documents {args.documents} --format {args.format}"
        + (" --postgres URL" if args.postgres else "") + "`  ",
        f"64-bit codes; the corpus one {corpus.stat().st_size / 1e9:.1f} GB {args.format} file; "
        f"builds on 2 torch threads, queries on 1; {cpu_model()}; date {date.today()}; commit "
        + _commits(built, opened, measured) + ".", "",
        "| database | documents | build peak RSS GB | build s | "
        + " | ".join(f"{s} s" if s == "training" else f"{s} docs/s" for s in STAGES)
        + " | first open s | first open peak RSS GB |", "|---|---|---|---|" + "---|" * len(STAGES) + "---|---|",
        f"| {backend} | {n:,} | {built['peak_rss'] / 1e9:.2f} | {built['seconds']:.0f} | "
        + " | ".join(f"{stages[s]:.0f}" if s == "training" else f"{n / stages[s]:,.0f}" for s in STAGES)
        + f" | {opened['seconds']:.0f} | {opened['peak_rss'] / 1e9:.2f} |", "",
        "| open s (from the database; from this machine's file, twice) | whole posts median ms | "
        "Subject lines median ms | a search reads bytes/doc | server RSS after open GB | server bytes/doc | "
        "database bytes/doc |",
        "|---|---|---|---|---|---|---|",
        f"| {_opens(measured)} | {measured['posts_ms']:.3f} | "
        f"{measured['subjects_ms']:.3f} | {measured['search_bytes']:.1f} | {measured['rss_after_open'] / 1e9:.2f} | "
        f"{measured['rss_after_open'] / n:,.0f} | {disk} |", "",
        "Stages: reading is the first pass (read, analyse, count terms, draw the training sample); training "
        "vectorizes the sample (at most 30,000 documents) and fits the model; vectorizing, encoding and "
        "storing are the second pass, a batch of 2,048 documents at a time (reading the file again is "
        "charged to vectorizing; encoding includes the word counts and content hashes; storing is the "
        "database's writing). The first opening, in a process of its own, reads every document's code and "
        "word counts anew and saves the segment that later openings read (in the database, and as a file on "
        "this machine: `store/segment_files.py`); the query process opens it once from the database (as a "
        "machine that never opened it does) and then twice from the file. Queries: 1,000 whole 20NG test "
        "posts and their Subject lines, k=10, snippets included. Server RSS: the query process after its "
        "second opening (Python, numpy, FAISS, torch, imported to hold it to one thread, and the index)"
        + (f"; after its first, {measured['rss_after_first_open'] / 1e9:.2f} GB "
           f"({measured['rss_after_first_open'] / n:,.0f} bytes a document), what a server holds once started, "
           f"and that opening's peak {measured['first_open_peak'] / 1e9:.2f} GB "
           f"({measured['first_open_peak'] / n:,.0f} bytes a document)" if "first_open_peak" in measured else "")
        + ".",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
