"""Retrieval quality: precision@100 of hashsearch and the baselines, measured in one run.

Train split = database, each test document = a query, relevant = shares a label, top 100 by Hamming
distance with ties broken uniformly at random (exact expectation, see metrics.expected_precision).

    python benchmarks/quality.py                      # everything: both corpora, 16/32/64/128 bits
    python benchmarks/quality.py --quick              # 20NG, 32 bits, a few minutes of CPU

Two ways in for hashsearch: "matrix" trains SemanticHasher on one document matrix that the baselines
get too: the shared 10k-term TF-IDF matrices (``--features shared``), or hashsearch's own features from
the raw text (``--features bm25``, ``tfidf`` or ``log``: ``TextFeatures`` with that weighting, as
``Searcher.build`` makes them); "text" runs the public API end to end (Searcher.build on the raw train
texts, search_many on the test texts, ranking exactly as users get it). Results go to stdout and into
the quality section of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.baselines import ITQ, LSH  # noqa: E402
from benchmarks.datasets import DEFAULT_DIR, Matrices, load_matrices, load_text  # noqa: E402
from benchmarks.metrics import (  # noqa: E402
    precision_at_k_codes,
    precision_at_k_cosine,
    precision_of_ranked_ids,
)
from hashsearch import Searcher, SemanticHasher  # noqa: E402
from hashsearch.text.features import WEIGHTINGS, TextFeatures  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def document_matrices(corpus: str, features: str, data_dir: Path) -> Matrices:
    """The shared TF-IDF matrices, or hashsearch's own features of the raw text with one weighting."""
    if features == "shared":
        return load_matrices(corpus, data_dir)
    train, test = load_text(corpus, data_dir)
    text_features = TextFeatures(weighting=features)
    return Matrices(text_features.fit_transform(train.texts), text_features.transform(test.texts),
                    train.labels, test.labels)


def run_matrix(corpus: str, bits_list: list[int], variants: list[str], seeds: list[int], options: dict,
               features: str, data_dir: Path, max_queries: int | None) -> list[dict]:
    m = document_matrices(corpus, features, data_dir)
    name = "TF-IDF" if features == "shared" else f"{features} (ours)"
    X_test, Y_test = m.X_test, m.Y_test
    if max_queries:
        pick = np.random.default_rng(0).choice(X_test.shape[0], min(max_queries, X_test.shape[0]), replace=False)
        X_test, Y_test = X_test[np.sort(pick)], Y_test[np.sort(pick)]
    rows = [{"corpus": corpus, "method": f"exact {name} cosine (no hashing)", "bits": None,
             "p100": [precision_at_k_cosine(X_test, m.X_train, Y_test, m.Y_train)], "seconds": None}]
    print(f"{corpus}: {name} cosine P@100 {rows[0]['p100'][0]:.3f}", flush=True)
    for bits in bits_list:
        for baseline, make in ((f"LSH on {name}", LSH), (f"ITQ on {name}", ITQ)):
            started = time.perf_counter()
            model = make(bits=bits, seed=0).fit(m.X_train)
            p = precision_at_k_codes(model.encode(X_test), model.encode(m.X_train), Y_test, m.Y_train)
            rows.append({"corpus": corpus, "method": baseline, "bits": bits, "p100": [p],
                         "seconds": time.perf_counter() - started})
            print(f"{corpus} {bits} bits {baseline}: {p:.3f}", flush=True)
        for variant in variants:
            scores, seconds = [], []
            for seed in seeds:
                started = time.perf_counter()
                hasher = SemanticHasher(bits=bits, seed=seed, variant=variant, **options).fit(m.X_train)
                seconds.append(time.perf_counter() - started)
                scores.append(precision_at_k_codes(hasher.encode(X_test), hasher.encode(m.X_train),
                                                   Y_test, m.Y_train))
            rows.append({"corpus": corpus, "method": f"hashsearch {variant} (SemanticHasher on the same {name})",
                         "bits": bits, "p100": scores, "seconds": float(np.median(seconds))})
            print(f"{corpus} {bits} bits hashsearch {variant}: {np.mean(scores):.3f} "
                  f"(seeds {seeds}, train {np.median(seconds):.0f} s)", flush=True)
    return rows


def run_text(corpus: str, bits_list: list[int], options: dict, data_dir: Path,
             max_queries: int | None) -> list[dict]:
    train, test = load_text(corpus, data_dir)
    queries = list(range(len(test.texts)))
    if max_queries:
        queries = sorted(np.random.default_rng(0).choice(len(queries), min(max_queries, len(queries)),
                                                         replace=False).tolist())
    row_of = {doc_id: row for row, doc_id in enumerate(train.ids)}
    rows = []
    for bits in bits_list:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            docs = [{"id": i, "text": t} for i, t in zip(train.ids, train.texts, strict=False)]
            with Searcher.build(docs, Path(tmp) / "bench.db", bits=bits, seed=0, **options) as searcher:
                build_seconds = time.perf_counter() - started
                texts = [test.texts[q] for q in queries]
                for mode in ("hamming", "hybrid"):
                    started = time.perf_counter()
                    hits = searcher.search_many(texts, k=100, mode=mode, snippets=False)
                    per_query_ms = (time.perf_counter() - started) / len(texts) * 1000
                    ranked = [[row_of[h.id] for h in chunk] for chunk in hits]
                    p = precision_of_ranked_ids(ranked, test.labels[queries], train.labels)
                    method = ("hashsearch end to end, default ranking (words and code)" if mode == "hybrid"
                              else "hashsearch end to end, `mode=\"hamming\"` (Searcher on raw text, codes alone)")
                    note = f"{per_query_ms:.1f} ms/query" + (
                        "" if mode == "hybrid" else f", build {build_seconds:.0f} s")
                    rows.append({"corpus": corpus, "method": method, "bits": bits, "p100": [p], "seconds": None,
                                 "note": note})
                    print(f"{corpus} {bits} bits {method}: {p:.3f} ({note})", flush=True)
    return rows


def markdown(rows: list[dict], bits_list: list[int], command: str, title: str) -> str:
    lines = [f"## {title}", "",
             f"Command: `{command}`  ", f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
             f"torch {torch.__version__}; date {time.strftime('%Y-%m-%d')}.", "",
             "Mean over seeds, ± the spread (max - min) where several seeds ran. In brackets: training seconds "
             "(median over seeds); for end-to-end rows, the time per query of `search_many(k=100)` and the "
             "whole `Searcher.build`. Matrix rows use every test document as a query; end-to-end rows a random "
             "sample (seed 0) of them, see the command.", ""]
    for corpus in dict.fromkeys(r["corpus"] for r in rows):
        lines += [f"### {corpus}", "", "| method | " + " | ".join(f"{b} bits" for b in bits_list) + " |",
                  "|---|" + "---|" * len(bits_list)]
        for method in dict.fromkeys(r["method"] for r in rows if r["corpus"] == corpus):
            cells = []
            for bits in bits_list:
                match = [r for r in rows if r["corpus"] == corpus and r["method"] == method
                         and r["bits"] in (bits, None)]
                if not match or (match[0]["bits"] is None and bits != bits_list[0]):
                    cells.append("")
                    continue
                r = match[0]
                cell = f"{np.mean(r['p100']):.3f}"
                if len(r["p100"]) > 1:
                    cell += f" ± {np.ptp(r['p100']):.3f}"
                if r["seconds"] is not None:
                    cell += f" ({r['seconds']:.0f} s)"
                if r.get("note"):
                    cell += f" ({r['note']})"
                cells.append(cell)
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_section(name: str, section: str) -> None:
    """Replace (or append) one benchmark's section of RESULTS.md, leaving the others alone."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = f"{start}\n{section.strip()}\n{end}"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if start in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--corpora", default="20ng,reuters")
    parser.add_argument("--bits", default="16,32,64,128")
    parser.add_argument("--modes", default="matrix,text", help="matrix, text or both")
    parser.add_argument("--features", default="shared", choices=("shared", *WEIGHTINGS),
                        help="matrix mode input: the shared TF-IDF matrices, or hashsearch's features of the "
                             "raw text with this weighting")
    parser.add_argument("--variants", default="variational", help="model variants for the matrix mode")
    parser.add_argument("--seeds", default="0", help="seeds for the matrix mode, e.g. 0,1,2")
    parser.add_argument("--options", default="{}", help="extra SemanticHasher options as JSON")
    parser.add_argument("--max-queries", type=int, default=None, help="evaluate a random subset of test queries")
    parser.add_argument("--text-queries", type=int, default=2000,
                        help="random test queries for the end-to-end mode (re-ranking reads the database per query)")
    parser.add_argument("--section", default="quality", help="which section of RESULTS.md to (re)write")
    parser.add_argument("--title", default="Retrieval quality (precision@100)")
    parser.add_argument("--quick", action="store_true", help="20NG, 32 bits, matrix mode, 2,000 queries")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    if args.quick:
        args.corpora, args.bits, args.modes, args.max_queries = "20ng", "32", "matrix", args.max_queries or 2000
    bits_list = [int(b) for b in args.bits.split(",")]
    options = json.loads(args.options)
    rows: list[dict] = []
    for corpus in args.corpora.split(","):
        if "matrix" in args.modes:
            rows += run_matrix(corpus, bits_list, args.variants.split(","),
                               [int(s) for s in args.seeds.split(",")], options, args.features, args.data_dir,
                               args.max_queries)
        if "text" in args.modes:
            rows += run_text(corpus, bits_list, options, args.data_dir, args.max_queries or args.text_queries)
    section = markdown(rows, bits_list, "python " + " ".join(sys.argv), args.title)
    print(section)
    if not args.no_write:
        write_section(args.section, section)


if __name__ == "__main__":
    main()
