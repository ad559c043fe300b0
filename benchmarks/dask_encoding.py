"""The distributed build's encoding rate: one process against a local Dask cluster of 1 and 2 workers.

    pip install -e ".[distributed,postgres]"
    python benchmarks/dask_encoding.py [--documents 200000] [--postgres URL] [--corpus FILE] [--runs process,1,2]

Corpus: the 20 Newsgroups and Reuters texts topped up as ``benchmarks/scale.py`` does, written as 8
Parquet files (8 partitions), or (``--corpus``) a Parquet file scale.py wrote, a row group a
partition. Model: trained once, by a build of the first 20,000 documents; every
configuration encodes with it. Rows: the single process reads the files (the streaming reader) and
makes each document's stored row (``building.encode_documents``: analysis, weighted row, code, word
counts), a batch of 2,048 at a time; the cluster's workers do the same per partition and send the rows
back (``distributed._encoded``), without writing them. With ``--postgres``, whole ``build_on_dask``
runs into that database (encoding and COPY) are timed too. Writes the distributed section of RESULTS.md.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.datasets import DEFAULT_DIR  # noqa: E402
from benchmarks.quality import write_section  # noqa: E402
from benchmarks.scale import write_corpus  # noqa: E402
from benchmarks.speed import cpu_model  # noqa: E402

PARTS = 8


def single_process(files: list[Path], model_db: Path) -> tuple[int, float]:
    """(documents, seconds) to make every row in this process."""
    from hashsearch.api.building import encode_documents
    from hashsearch.api.distributed import read_model
    from hashsearch.api.streaming import batches
    from hashsearch.text.corpus import documents_from
    from hashsearch.text.records import Fields
    from hashsearch.text.sources import ReadNotes

    features, hasher, _ = read_model(model_db)
    started, count = time.perf_counter(), 0
    for path in files:
        documents = (doc for _, doc in documents_from(path, Fields(), ReadNotes(), quiet=True))
        for batch in batches(documents):
            count += len(encode_documents(batch, features, hasher))
    return count, time.perf_counter() - started


def on_cluster(source: Path, model_db: Path, workers: int, postgres: str | None) -> tuple[int, float, float | None]:
    """(documents, seconds to make every row of ``source`` (a Parquet file or folder, a row group a
    partition) on ``workers`` workers, seconds of a whole build into ``postgres`` or None)."""
    import dask.dataframe as dd
    import distributed

    from hashsearch.api import distributed as on_dask
    from hashsearch.text.records import Fields

    features, hasher, _ = on_dask.read_model(model_db)
    vocabulary, (config, weights) = features.to_json(), hasher.to_bytes()
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        client.run(lambda: __import__("hashsearch.api.building"))  # imports paid before the clock starts
        frame = dd.read_parquet(str(source), split_row_groups=True)
        started, count = time.perf_counter(), 0
        for rows, _ in on_dask._encoded(client, frame.to_delayed(), Fields(), vocabulary, config, weights):
            count += len(rows)
        encode_seconds = time.perf_counter() - started
        build_seconds = None
        if postgres:
            started = time.perf_counter()
            on_dask.build_on_dask(frame, postgres, client=client, model_from=model_db)
            build_seconds = time.perf_counter() - started
    return count, encode_seconds, build_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=200_000)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--postgres", default=None, help="also time whole builds into this PostgreSQL URL")
    parser.add_argument("--section", default="distributed")
    parser.add_argument("--corpus", type=Path, default=None,
                        help="an existing Parquet corpus (scale.py's), a row group a partition, instead of writing one")
    parser.add_argument("--runs", default="process,1,2",
                        help="what to time, comma-separated: 'process' (one process) and numbers of workers")
    args = parser.parse_args()
    import pyarrow.parquet as pq

    from hashsearch.api.writer import build_index

    runs, rows = args.runs.split(","), []
    with tempfile.TemporaryDirectory() as tmp:
        model_db = Path(tmp) / "model.db"
        if args.corpus is None:
            whole = Path(tmp) / "corpus.parquet"
            write_corpus(whole, args.documents, args.data_dir, skip_queries=1000)
            table = pq.read_table(whole)
            source = Path(tmp) / "lake"
            source.mkdir()
            step = -(-len(table) // PARTS)
            files = []
            for part in range(PARTS):
                files.append(source / f"part-{part}.parquet")
                pq.write_table(table.slice(part * step, step), files[-1])
            first = table.slice(0, 20_000).to_pylist()
            del table
        else:
            source, files = args.corpus, [args.corpus]
            first = next(pq.ParquetFile(args.corpus).iter_batches(batch_size=20_000)).to_pylist()
        build_index(first, model_db, bits=64)[0].close()
        del first
        if "process" in runs:
            count, seconds = single_process(files, model_db)
            rows.append(f"| one process | {count:,} | {count / seconds:,.0f} | n/a |")
        for workers in [int(run) for run in runs if run != "process"]:
            count, seconds, build = on_cluster(source, model_db, workers, args.postgres)
            rows.append(f"| Dask LocalCluster, {workers} worker{'s' if workers > 1 else ''} | {count:,} | "
                        f"{count / seconds:,.0f} | {f'{count / build:,.0f}' if build else 'n/a'} |")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    layout = f"{PARTS} Parquet files" if args.corpus is None else "one Parquet file, a partition a row group"
    lines = [
        "## Distributed encoding on Dask" + (f", {args.documents:,} documents" if args.corpus else ""), "",
        f"Command: `python benchmarks/dask_encoding.py --documents {args.documents}"
        + (" --postgres URL" if args.postgres else "")
        + (f" --corpus {args.corpus.name} --runs {args.runs}" if args.corpus else "") + "`  ",
        f"64-bit codes; {layout}; "
        f"one thread a worker; {cpu_model()}; date {date.today()}; "
        f"commit {commit}.", "",
        "| where the rows are made | documents | rows made, docs/s | whole build into PostgreSQL (rows and COPY), "
        "docs/s |", "|---|---|---|---|", *rows, "",
        "Rows made: read, analysed, vectorized, encoded, word counts and content hashes (what a build's "
        "storing stage then writes), with the same model everywhere. On the cluster the rows also travel back "
        "to the writing process. The machine's cores are shared by the workers, the writing process and, "
        "for whole builds, the PostgreSQL server.",
    ]
    section = "\n".join(lines)
    print(section)
    write_section(args.section, section)


if __name__ == "__main__":
    main()
