"""Sharding, simulated in one process: an index split by id hash into shards that keep its word
statistics, every query answered by all shards and merged, against the whole index.

    python benchmarks/sharding.py --db INDEX [--shards 4] [--queries 1000]

``INDEX``: any built index (``benchmarks/scale.py`` leaves one in its work folder). Each shard is the
main segment's rows whose id hash falls to it (``Segment.shard``: posting lists restricted to its rows,
BM25's document count, mean length and document frequencies those of the whole index). The ranking
takes the shards as its parts, which is the merge a coordinator would do: each part's candidates and
raw scores, one normalisation and one feedback code over all of them, the best k by score. Queries:
the 20NG test posts (ranked as documents) and their Subject lines (words and code), and the Subject
lines in Hamming mode, k=10. Writes the sharding section of RESULTS.md.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.datasets import DEFAULT_DIR, load_text, title  # noqa: E402
from benchmarks.quality import write_section  # noqa: E402
from benchmarks.speed import cpu_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--section", default="sharding")
    args = parser.parse_args()
    import faiss
    import torch

    from hashsearch import Searcher
    from hashsearch.api.querying import encoded_query
    from hashsearch.index import ranking
    from hashsearch.index.parts import Part

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    posts = load_text("20ng", args.data_dir)[1].texts[:args.queries]
    subjects = [title(q) or " ".join(q.split()[:5]) for q in posts]
    searcher = Searcher.open(args.db)
    snapshot = searcher._snapshot
    main_segment = snapshot.main
    started = time.perf_counter()
    shards = [main_segment.shard(np.flatnonzero(main_segment.keys % args.shards == s)) for s in range(args.shards)]
    split_seconds = time.perf_counter() - started
    whole, merged = [Part(main_segment)], [Part(shard) for shard in shards]
    rows = []
    for label, texts, mode in (("Subject lines", subjects, "hybrid"), ("whole posts", posts, "hybrid"),
                               ("Subject lines, Hamming mode", subjects, "hamming")):
        same = same_scores = 0
        times: dict[str, list[float]] = {"whole": [], "merged": []}
        for text in texts:
            query = encoded_query(snapshot, text, mode)
            radius, page = ranking.checked_page(snapshot.hasher.bits, 10, None, mode, 0, None)
            answers = {}
            for name, parts in (("whole", whole), ("merged", merged)):
                began = time.perf_counter()
                answers[name] = ranking.rank(parts, query, radius, page)
                times[name].append(time.perf_counter() - began)
            same += list(answers["whole"][0]) == list(answers["merged"][0])
            scores = answers["whole"][2], answers["merged"][2]
            same_scores += scores[0] is None or bool(np.allclose(scores[0], scores[1], rtol=1e-6))
        rows.append(f"| {label} | {len(texts):,} | {same:,} | {same_scores:,} | "
                    f"{np.median(times['whole']) * 1000:.3f} | {np.median(times['merged']) * 1000:.3f} |")
    n = len(main_segment)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    sizes = ", ".join(f"{len(shard):,}" for shard in shards)
    lines = [
        f"## Sharding simulated: {n:,} documents in {args.shards} shards", "",
        f"Command: `python benchmarks/sharding.py --db INDEX --shards {args.shards}` on the index of "
        f"`benchmarks/scale.py --documents {n}`  ",
        f"{cpu_model()}; date {date.today()}; commit {commit}. Shards of {sizes} documents, split in "
        f"{split_seconds:.1f} s.", "",
        "| queries | count | the same top 10 as the whole index | the same scores | whole index: ranking median ms | "
        f"{args.shards} shards in turn, merged: ranking median ms |", "|---|---|---|---|---|---|", *rows, "",
        "Ranking only (no query encoding, no snippets), the shards ranked one after the other on one core: "
        "on machines of their own they would run side by side, each over a quarter of the rows.",
    ]
    section = "\n".join(lines)
    print(section)
    write_section(args.section, section)


if __name__ == "__main__":
    main()
