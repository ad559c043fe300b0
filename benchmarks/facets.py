"""Facet counts at a million documents: the time to count a field's values over all documents and over
the documents a filter matches, from the in-memory filter columns (``MetadataColumns.value_counts``,
which ``Searcher.facets`` sums over segments).

    python benchmarks/facets.py [--documents 1000000] [--repeats 50]

Columns: a string field of 100 distinct values (Zipf-like frequencies), a number field (years), and a
list field (up to 3 of 20 tags). Prints medians and writes the facets section of RESULTS.md. A query's
facets (``q``) add the search of its first ``depth`` hits, whose time is the speed section's.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.quality import write_section  # noqa: E402
from benchmarks.speed import cpu_model  # noqa: E402
from hashsearch.index.filters import MetadataColumns  # noqa: E402


def median_ms(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--section", default="facets")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.documents
    weights = 1 / np.arange(1, 101)
    categories = rng.choice(100, size=n, p=weights / weights.sum())
    years = rng.integers(1990, 2025, size=n)
    tags = rng.integers(0, 20, size=(n, 3))
    records = [{"category": f"c{c}", "year": int(y), "tags": [f"t{t}" for t in row[: 1 + i % 3]]}
               for i, (c, y, row) in enumerate(zip(categories.tolist(), years.tolist(), tags.tolist(), strict=True))]
    started = time.perf_counter()
    columns = MetadataColumns(records)
    built = time.perf_counter() - started
    half = rng.random(n) < 0.5
    matched = columns.mask({"year": {"$gte": 2010}})
    rows = []
    for field in ("category", "year", "tags"):
        distinct = len(columns.value_counts(field))
        all_ms = median_ms(lambda field=field: columns.value_counts(field), args.repeats)
        half_ms = median_ms(lambda field=field: columns.value_counts(field, half), args.repeats)
        filter_ms = median_ms(lambda field=field: columns.value_counts(field, columns.mask({"year": {"$gte": 2010}})),
                              args.repeats)
        rows.append(f"| {field} | {distinct} | {all_ms:.2f} | {half_ms:.2f} | {filter_ms:.2f} |")
        print(rows[-1], flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent).stdout.strip()
    section = (f"## Facets at {n:,} documents\n\n`python benchmarks/facets.py --documents {n} --repeats "
               f"{args.repeats}`; commit {commit}, date {time.strftime('%Y-%m-%d')}, CPU {cpu_model()}, one thread. "
               f"Columns built in {built:.1f} s; {int(matched.sum()):,} documents match the filter year >= 2010.\n\n"
               "Median ms to count a field's values (the in-memory columns; a query's facets add the search of its "
               "first hits):\n\n| field | distinct values | all documents | a 50% mask | the filter (mask made "
               "and counted) |\n|---|---|---|---|---|\n" + "\n".join(rows))
    write_section(args.section, section)
    print(section)


if __name__ == "__main__":
    main()
