"""Where one query's time goes: timers around each step of ``Searcher.search`` on an existing index.

    python benchmarks/query_profile.py INDEX_DB [--short]

Queries: the first 1,000 20NG test posts (``--short``: their Subject lines), k=10, one thread, two passes
(the first warms caches). Each step is timed separately; then the whole ``search`` calls, in a third
pass; prints medians, means and 90th percentiles in milliseconds.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.datasets import DEFAULT_DIR, load_text, title  # noqa: E402
from hashsearch import Searcher  # noqa: E402
from hashsearch.api import querying  # noqa: E402
from hashsearch.index import codes as codelib  # noqa: E402
from hashsearch.index import ranking  # noqa: E402
from hashsearch.index.parts import Page  # noqa: E402
from hashsearch.text.features import unit_length  # noqa: E402

STEPS = ("features", "encoder", "ranking", "snippets", "whole search")


def step_times(searcher: Searcher, queries: list[str]) -> dict[str, np.ndarray]:
    """Milliseconds of each step (and of the whole ``search``) per query, after one warming pass.

    The whole searches run in a pass of their own: right after its steps, a query's search would find
    its words, weight rows and snippet pages in the caches (0.42 against 0.54 ms in one 100k run)."""
    snapshot = searcher._snapshot
    radius = codelib.default_radius(searcher.bits)
    ms: dict[str, list[float]] = {step: [] for step in STEPS}
    for warm in (True, False):
        for query in queries:
            clock = [time.perf_counter()]
            runs = snapshot.features.analyzer_.terms(query)
            terms = snapshot.features.weighted_terms(runs)
            clock.append(time.perf_counter())
            code = snapshot.hasher.encode_terms(terms[0], unit_length(terms[1]))
            clock.append(time.perf_counter())
            ranked = querying.query_of(snapshot, runs, code, "hybrid", terms)  # word hashes or sketch: ranking's
            ids, _, _ = ranking.rank(snapshot.parts(), ranked, radius, Page(10))
            clock.append(time.perf_counter())
            searcher._storage.read_snippets(ids.tolist())
            clock.append(time.perf_counter())
            if not warm:
                for step, before, after in zip(STEPS, clock, clock[1:], strict=False):
                    ms[step].append((after - before) * 1000)
    for query in queries:
        started = time.perf_counter()
        searcher.search(query)
        ms["whole search"].append((time.perf_counter() - started) * 1000)
    return {step: np.asarray(values) for step, values in ms.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--short", action="store_true", help="each post's Subject line")
    args = parser.parse_args()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    queries = load_text("20ng", args.data_dir)[1].texts[:1000]
    if args.short:
        queries = [title(q) or " ".join(q.split()[:5]) for q in queries]
    with Searcher.open(args.db) as searcher:
        for step, values in step_times(searcher, queries).items():
            print(f"{step:13s} median {np.median(values):.3f}  mean {values.mean():.3f}  "
                  f"p90 {np.percentile(values, 90):.3f}")


if __name__ == "__main__":
    main()
