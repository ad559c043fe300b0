"""The storing stage of a build on PostgreSQL alone: documents per second written by binary COPY, with
the documents' texts compressed by pglz (PostgreSQL's default) and by LZ4 (what hashsearch sets where
the server has it), and with the tables' keys made after the rows (a new index's build) or kept as the
rows go in (a rebuild's, and every build's before ``loading.deferred_keys``), side by side in one run.

    python benchmarks/pg_storing.py --postgres URL [--documents 1000000] [--data-dir ../shared/datasets]

The rows are what a build of the 20NG training posts stores, repeated with new ids up to
``--documents`` (texts, 8-byte codes, the posts' own word counts, a small metadata object); each run
writes them into fresh tables (``Storage.create``, then the texts' compression set) in one
transaction, 2,048 rows a call, as a build's batches do; the seconds include making the keys at the
end. Writes the pg-storing section of RESULTS.md.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from contextlib import nullcontext
from datetime import date
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.datasets import DEFAULT_DIR, load_text  # noqa: E402
from benchmarks.quality import write_section  # noqa: E402
from benchmarks.speed import cpu_model  # noqa: E402
from hashsearch.index.words import encode_words  # noqa: E402
from hashsearch.store.loading import insert_documents  # noqa: E402
from hashsearch.store.schema import StoredDocument, documents_table, metadata  # noqa: E402
from hashsearch.store.storage import Storage, database_url  # noqa: E402
from hashsearch.text.analysis import Analyzer  # noqa: E402

BATCH = 2048


def rows(n: int, data_dir: Path) -> list[StoredDocument]:
    """``n`` rows from the 20NG training posts, cycled with new ids."""
    train, _ = load_text("20ng", data_dir)
    analyzer = Analyzer()
    counts = [encode_words(analyzer.terms(text)) for text in train.texts]
    rng = np.random.default_rng(0)
    return [StoredDocument(f"doc-{i}", rng.bytes(8), counts[i % len(counts)], f"{i:016x}",
                           train.texts[i % len(counts)], {"bucket": i % 100, "lang": "en"}) for i in range(n)]


def store(url: str, documents: list[StoredDocument], compression: str, keys_after: bool) -> float:
    """Seconds to write ``documents`` into fresh tables whose texts use ``compression``, as a build's
    storing stage does (``keys_after``), or with the keys kept as the rows go in."""
    engine = sa.create_engine(database_url(url))
    metadata.drop_all(engine)
    storage = Storage.create(url)  # the tables as a build makes them
    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE {documents_table.name} ALTER COLUMN text SET COMPRESSION {compression}"))
    started = time.perf_counter()
    with storage.transaction() as conn, (storage.replacing_documents(conn) if keys_after else nullcontext()):
        for start in range(0, len(documents), BATCH):
            insert_documents(conn, documents[start:start + BATCH])
    seconds = time.perf_counter() - started
    storage.close()
    metadata.drop_all(engine)
    engine.dispose()
    return seconds


RUNS = {("pglz", True): "pglz, keys after the rows", ("lz4", True): "lz4, keys after the rows",
        ("lz4", False): "lz4, keys kept as rows go in"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", required=True, help="a PostgreSQL URL whose hashsearch tables may be dropped")
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--section", default="pg-storing")
    args = parser.parse_args()
    documents = rows(args.documents, args.data_dir)
    seconds = {}
    for (compression, keys_after), name in RUNS.items():
        seconds[name] = store(args.postgres, documents, compression, keys_after)
        print(f"{name}: {args.documents / seconds[name]:,.0f} documents/s ({seconds[name]:.1f} s)", flush=True)
    engine = sa.create_engine(database_url(args.postgres))
    with engine.connect() as conn:
        server = conn.execute(sa.text("SHOW server_version")).scalar()
    engine.dispose()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent).stdout.strip()
    lines = ["## PostgreSQL: the storing stage alone, by texts' compression and when keys are made", "",
             f"`python benchmarks/pg_storing.py --postgres URL --documents {args.documents}`; commit {commit}, "
             f"date {date.today()}, {cpu_model()}; PostgreSQL {server} on the same machine.", "",
             "| texts compressed by, keys | documents/s | seconds |", "|---|---|---|"]
    lines += [f"| {name} | {args.documents / value:,.0f} | {value:.1f} |" for name, value in seconds.items()]
    write_section(args.section, "\n".join(lines))


if __name__ == "__main__":
    main()
