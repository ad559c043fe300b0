"""More like this: how many of ``similar(id, k=10)``'s hits share a label with the document, per mode.

    python benchmarks/similar_quality.py [--corpora 20ng,reuters] [--documents 1000]

For each corpus, a 64-bit index of the train split (default options, seed 0); ``--documents`` random
train documents each ask ``similar``; p@10 = the share of hits that share a label, averaged. Rows: the
default ranking (the stored code and word sketch, ``ranking.document``) and the Hamming mode (the
stored code alone). Writes the similar section of RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import random
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

VARIANTS = [("default (code and sketch)", "hybrid"), ('`mode="hamming"` (code alone)', "hamming")]


def precision_of_similar(searcher: Searcher, picks: list[str], labels: dict[str, np.ndarray], mode: str) -> float:
    shares = []
    for doc_id in picks:
        hits = searcher.similar(doc_id, k=10, mode=mode, snippets=False)
        shares.append(np.mean([bool((labels[h.id] & labels[doc_id]).any()) for h in hits]))
    return float(np.mean(shares))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--corpora", default="20ng,reuters")
    parser.add_argument("--documents", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(2)
    corpora = args.corpora.split(",")
    table: dict[str, list[str]] = {name: [] for name, _ in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for corpus in corpora:
            train, _ = load_text(corpus, args.data_dir)
            docs = [{"id": i, "text": t} for i, t in zip(train.ids, train.texts, strict=False) if t.strip()]
            labels = dict(zip(train.ids, train.labels, strict=False))
            picks = random.Random(0).sample([d["id"] for d in docs], args.documents)
            with Searcher.build(docs, Path(tmp) / f"{corpus}.db", bits=64, seed=0) as searcher:
                for name, mode in VARIANTS:
                    table[name].append(f"{precision_of_similar(searcher, picks, labels, mode):.3f}")
                    print(corpus, name, table[name][-1], flush=True)
    commit = os.popen("git rev-parse --short HEAD 2>/dev/null").read().strip() or "unknown"
    section = "\n".join([
        "## More like this: similar(id) precision@10", "",
        f"`python {' '.join(sys.argv)}`; commit {commit}, date {time.strftime('%Y-%m-%d')}, CPU {cpu_model()}. "
        f"64-bit index of each train split; {args.documents} random train documents each ask `similar(id, k=10)`; "
        "p@10 = share of hits that share a label with it.", "",
        "| ranking | " + " | ".join(corpora) + " |", "|---|" + "---|" * len(corpora),
        *[f"| {name} | " + " | ".join(values) + " |" for name, values in table.items()],
    ])
    print(section)
    write_section("similar", section)


if __name__ == "__main__":
    main()
