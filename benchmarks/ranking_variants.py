"""Ranking constants tried on the eight test collections without retraining: a search tool for relevance
work, beside bm25s in the same run. Published figures come from ``ir_collections.py``, not from here.

    python benchmarks/ranking_variants.py [--data-dir ../shared/datasets] [--db-dir /tmp/ranking-variants] \
        --variants '{"today": {}, "all words": {"MAX_QUERY_WORDS": 100000}}'

Each collection's default index (``Searcher.build``, 64 bits, seed 0) is built once into ``--db-dir`` and
kept there, so that later runs skip training. Each variant sets some of the constants below for the
whole run of it, reads every index anew (``refresh``: posting lists and cuts made with the variant's
constants) and scores the collection's test queries (``search_many(k=100)``, the default mode) as
``ir_collections.py`` does. Constants: ``ranking.*`` (query-time weights and paths), ``BM25_K1`` and
``BM25_B`` of the word index (not of the model's input features), ``POSTINGS_PER_WORD`` (the cut).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.datasets import DEFAULT_DIR  # noqa: E402
from benchmarks.ir_collections import COLLECTIONS, DEPTH, Collection, run_bm25s  # noqa: E402
from hashsearch import Searcher  # noqa: E402
from hashsearch.index import assembly, postings, ranking, words  # noqa: E402

RANKING = ("MAX_QUERY_WORDS", "SHORT_CODE_WEIGHT", "LONG_CODE_WEIGHT", "SHORT_QUERY", "FEEDBACK_DOCUMENTS",
           "LONG_QUERY", "DOCUMENT_TERMS", "DOCUMENT_CANDIDATES", "SKETCH_WEIGHT", "HASH_CANDIDATES", "QUERY_POSTINGS")


def set_constants(values: dict[str, Any]) -> dict[str, Any]:
    """Set each named constant where the index reads it; returns the values it had (to restore)."""
    before: dict[str, Any] = {}
    for name, value in values.items():
        if name in RANKING:
            before[name] = getattr(ranking, name)
            setattr(ranking, name, value)
        elif name in ("BM25_K1", "BM25_B"):
            before[name] = getattr(postings, name)
            setattr(postings, name, value)
            if name == "BM25_K1":
                words.BM25_K1 = value
        elif name == "POSTINGS_PER_WORD":
            defaults = assembly.assemble_segment.__kwdefaults__
            before[name] = defaults["postings_per_word"]
            defaults["postings_per_word"] = value
        else:
            raise SystemExit(f"unknown constant {name!r}: use one of {', '.join(RANKING)}, BM25_K1, BM25_B, "
                             "POSTINGS_PER_WORD")
    return before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--collections", default=",".join(COLLECTIONS))
    parser.add_argument("--db-dir", type=Path, default=Path("/tmp/ranking-variants"))
    parser.add_argument("--variants", default='{"today": {}}', help="JSON: variant name -> {constant: value}")
    args = parser.parse_args()
    variants = json.loads(args.variants)
    args.db_dir.mkdir(parents=True, exist_ok=True)
    collections = [Collection(args.data_dir / "ir" / name) for name in args.collections.split(",")]
    baseline = {}
    for collection in collections:
        db = args.db_dir / f"{collection.name}.db"
        if not db.exists():
            torch.set_num_threads(2)
            Searcher.build([{"id": i, "text": t} for i, t in zip(collection.ids, collection.texts, strict=True)],
                           db).close()
        baseline[collection.name] = run_bm25s(collection)[1]
    torch.set_num_threads(1)
    print("nDCG@10 / Recall@100, and in brackets against bm25s in this run (means "
          f"{np.mean([b['nDCG@10'] for b in baseline.values()]):.4f} / "
          f"{np.mean([b['R@100'] for b in baseline.values()]):.4f})", flush=True)
    for variant, values in variants.items():
        before = set_constants(values)
        try:
            figures = {}
            for collection in collections:
                with Searcher.open(args.db_dir / f"{collection.name}.db") as searcher:
                    searcher.refresh()
                    batches = searcher.search_many(collection.queries, k=DEPTH, snippets=False)
                figures[collection.name] = collection.scores([[(h.id, h.score) for h in hits] for hits in batches])
        finally:
            set_constants(before)
        means = " / ".join(f"{np.mean([f[measure] for f in figures.values()]):.4f}"
                           for measure in ("nDCG@10", "R@100"))
        print(f"{variant}: means {means} " + " ".join(
            f"{name} {f['nDCG@10']:.3f} ({f['nDCG@10'] - baseline[name]['nDCG@10']:+.3f}) / "
            f"{f['R@100']:.3f} ({f['R@100'] - baseline[name]['R@100']:+.3f})"
            for name, f in figures.items()), flush=True)


if __name__ == "__main__":
    main()
