"""Living indexes: adding 1,000 documents to a 20 Newsgroups index, against a full rebuild, in one run.

    python benchmarks/update.py [--data-dir ../shared/datasets] [--add 1000]

The database is the 20NG train split; the added documents are the first ``--add`` test posts (a
random sample, seed 0). Both timings include reading nothing from disk: documents are passed as dicts.
Writes the update section of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.datasets import DEFAULT_DIR, load_text  # noqa: E402
from benchmarks.quality import write_section  # noqa: E402
from benchmarks.speed import cpu_model  # noqa: E402
from hashsearch import Searcher  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--add", type=int, default=1000)
    parser.add_argument("--bits", type=int, default=64)
    args = parser.parse_args()
    train, test = load_text("20ng", args.data_dir)
    base = [{"id": i, "text": t} for i, t in zip(train.ids, train.texts, strict=False)]
    pick = np.random.default_rng(0).choice(len(test.ids), args.add, replace=False)
    extra = [{"id": test.ids[i], "text": test.texts[i]} for i in pick]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        Searcher.build(base, Path(tmp) / "base.db", bits=args.bits).close()
        base_build = time.perf_counter() - started
        with Searcher.open(Path(tmp) / "base.db") as searcher:
            started = time.perf_counter()
            report = searcher.add(extra)
            add_seconds = time.perf_counter() - started
            assert report.added == len(extra) and len(searcher) == len(base) + len(extra)
        started = time.perf_counter()
        Searcher.build(base + extra, Path(tmp) / "rebuilt.db", bits=args.bits).close()
        rebuild = time.perf_counter() - started
    command = "python " + " ".join(sys.argv)
    commit = os.popen("git rev-parse --short HEAD 2>/dev/null").read().strip() or "unknown"
    lines = ["## Updating an index (add without retraining)", "",
             f"Command: `{command}`  ", f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
             f"{args.bits}-bit codes; CPU {cpu_model()}; date {time.strftime('%Y-%m-%d')}; commit {commit}.", "",
             "| step | documents | seconds | ms per document |", "|---|---|---|---|",
             f"| build the 20NG train index | {len(base)} | {base_build:.1f} | {base_build / len(base) * 1000:.2f} |",
             f"| `Searcher.add` of test posts (existing model) | {len(extra)} | {add_seconds:.2f} | "
             f"{add_seconds / len(extra) * 1000:.2f} |",
             f"| full rebuild with them (`Searcher.build`) | {len(base) + len(extra)} | {rebuild:.1f} | "
             f"{rebuild / (len(base) + len(extra)) * 1000:.2f} |", "",
             f"Adding {len(extra)} documents took {add_seconds:.2f} s, {rebuild / add_seconds:.0f} times less than "
             "the rebuild (which retrains the model).", ""]
    section = "\n".join(lines)
    print(section)
    write_section("update", section)


if __name__ == "__main__":
    main()
