"""Relevance ideas that work on the default ranking's hits, tried on the eight test collections beside
bm25s in the same run: a search tool for relevance work, like ``ranking_variants.py`` (whose indexes it
shares); published figures come from ``ir_collections.py``.

    python benchmarks/feedback_variants.py [--data-dir ../shared/datasets] [--db-dir /tmp/ranking-variants]

Each collection's default index (``Searcher.build``, 64 bits, seed 0) is built once into ``--db-dir``.
Every test query is ranked by the default (its top ``DEPTH``), then each variant re-queries or re-ranks:

- ``rm3``: RM3 word feedback (Lavrenko and Croft's relevance model, Abdul-Jaleel et al.'s
  interpolation): the query's terms weighted by ``1 - expansion`` and the ``terms`` best words of its
  ``documents`` best hits (each hit's term shares, weighted by its score, times the word's idf) by
  ``expansion``, searched again with the same code;
- ``regularised``: each of the top 100 hits given ``beta`` times the mean score of its ``neighbours``
  nearest codes among them (the cluster hypothesis, Diaz's score regularisation);
- ``topic``: each of the top 100 hits given ``weight`` times the mean log-probability of the query's
  vocabulary words under the word distribution its code decodes to (the model's decoder as a topic
  model, as in LDA-based document models), scaled to [0, 1] over the hits.

It reads the searcher's snapshot (private: codes, parts, analyzer), as only a research tool should.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.datasets import DEFAULT_DIR  # noqa: E402
from benchmarks.ir_collections import COLLECTIONS, DEPTH, Collection, run_bm25s  # noqa: E402
from hashsearch import Searcher  # noqa: E402
from hashsearch.api import querying  # noqa: E402
from hashsearch.index import ranking  # noqa: E402
from hashsearch.index.words import query_hashes  # noqa: E402

Hits = tuple[list[str], np.ndarray]  # ids and scores, best first
RERANKED = 100  # the hits a re-ranking variant reorders


def rm3(snapshot: Any, texts: dict[str, str], query: str, first: ranking.Query, hits: Hits, *, documents: int = 10,
        terms: int = 10, expansion: float = 0.5) -> Hits:
    analyzer = snapshot.features.analyzer_
    ids, scores = hits
    weights: Counter[bytes] = Counter()
    for doc_id, score in zip(ids[:documents], scores[:documents] / scores[:documents].sum(), strict=True):
        counts = Counter(analyzer.terms(texts[doc_id]))
        total = sum(counts.values())
        for term, count in counts.items():
            weights[term] += score * count / total
    words = list(weights)
    df = snapshot.main.words.frequencies(query_hashes(words))
    idf = np.log1p((len(snapshot) - df + 0.5) / (df + 0.5))
    for word, value in zip(words, idf, strict=True):
        weights[word] *= value
    best = dict(weights.most_common(terms))
    own = Counter(analyzer.terms(query))
    final: Counter[bytes] = Counter()
    for word, count in own.items():
        final[word] += (1 - expansion) * count / sum(own.values())
    for word, value in best.items():
        final[word] += expansion * value / sum(best.values())
    listed = list(final)
    hashes = query_hashes(listed)
    counts = np.array([final[word] for word in listed], dtype=np.float32) * sum(own.values())
    order = np.argsort(hashes, kind="stable")
    again = ranking.Query(first.code, words=hashes[order], counts=counts[order], terms=first.terms)
    return _ranked(snapshot, again)


def regularised(snapshot: Any, texts: dict[str, str], query: str, first: ranking.Query, hits: Hits, *,
                beta: float = 0.2, neighbours: int = 5) -> Hits:
    ids, scores = hits
    n = min(len(ids), RERANKED)
    bits = np.unpackbits(_codes(snapshot, ids[:n]), axis=1).astype(np.int16)
    distances = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
    np.fill_diagonal(distances, bits.shape[1] + 1)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :neighbours]
    scores = scores.copy()
    scores[:n] = scores[:n] + beta * scores[:n][nearest].mean(axis=1)
    return ids, scores


def topic(snapshot: Any, texts: dict[str, str], query: str, first: ranking.Query, hits: Hits, *,
          weight: float = 0.1) -> Hits:
    ids, scores = hits
    n = min(len(ids), RERANKED)
    columns, _ = snapshot.features.weighted_terms(snapshot.features.analyzer_.terms(query))
    if not len(columns):
        return hits
    state = snapshot.hasher.state_
    logits = np.unpackbits(_codes(snapshot, ids[:n]), axis=1).astype(np.float32) @ state["decoder.weight"].T
    logits += state["decoder.bias"]
    logits -= logits.max(axis=1, keepdims=True)
    log_probs = logits[:, columns] - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    fit = log_probs.mean(axis=1)
    scores = scores.copy()
    scores[:n] = scores[:n] + weight * (fit - fit.min()) / (fit.max() - fit.min() + 1e-9)
    return ids, scores


def _codes(snapshot: Any, ids: list[str]) -> np.ndarray:
    return np.stack([segment.index.codes[row] for segment, row in map(snapshot.find, ids)])


def _ranked(snapshot: Any, query: ranking.Query) -> Hits:
    radius, page = ranking.checked_page(snapshot.hasher.bits, DEPTH, None, "hybrid", 0, None)
    ids, _, scores = ranking.rank(snapshot.parts(None), query, radius, page)
    return ids.tolist(), np.asarray(scores if scores is not None else np.zeros(len(ids)), dtype=np.float64)


Variant = Callable[[Any, dict[str, str], str, ranking.Query, Hits], Hits]  # snapshot, texts, query, first, hits
VARIANTS: dict[str, Variant] = {
    "rm3": rm3,
    "rm3, expansion 0.3": partial(rm3, expansion=0.3),
    "regularised 0.2": regularised,
    "regularised 0.5, 10 neighbours": partial(regularised, beta=0.5, neighbours=10),
    "topic 0.1": topic,
    "topic 0.3": partial(topic, weight=0.3),
}


def _ndcg(collection: Collection, runs: list[Hits]) -> float:
    return collection.scores([list(zip(*hits, strict=True)) for hits in runs])["nDCG@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--collections", default=",".join(COLLECTIONS))
    parser.add_argument("--db-dir", type=Path, default=Path("/tmp/ranking-variants"))
    args = parser.parse_args()
    args.db_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    figures: dict[str, dict[str, float]] = {"default": {}, "bm25s": {}, **{name: {} for name in VARIANTS}}
    for name in args.collections.split(","):
        collection = Collection(args.data_dir / "ir" / name)
        db = args.db_dir / f"{name}.db"
        if not db.exists():
            Searcher.build([{"id": i, "text": t} for i, t in zip(collection.ids, collection.texts, strict=True)],
                           db).close()
        figures["bm25s"][name] = run_bm25s(collection)[1]["nDCG@10"]
        texts = dict(zip(collection.ids, collection.texts, strict=True))
        with Searcher.open(db) as searcher:
            snapshot = searcher._snapshot  # noqa: SLF001  (a research tool: codes, parts, analyzer)
            firsts = [querying.encoded_query(snapshot, query, "hybrid") for query in collection.queries]
            defaults = [_ranked(snapshot, first) for first in firsts]
            figures["default"][name] = _ndcg(collection, defaults)
            for variant, run in VARIANTS.items():
                runs = [hits if first.words is None or not len(hits[0]) else run(snapshot, texts, query, first, hits)
                        for query, first, hits in zip(collection.queries, firsts, defaults, strict=True)]
                figures[variant][name] = _ndcg(collection, runs)
        print(name, " ".join(f"{variant} {values[name]:.3f}" for variant, values in figures.items()), flush=True)
    print("nDCG@10, mean over the collections (in brackets: against bm25s)")
    bm25s = np.mean(list(figures["bm25s"].values()))
    for variant, values in figures.items():
        mean = np.mean(list(values.values()))
        print(f"{variant}: {mean:.4f} ({mean - bm25s:+.4f})")


if __name__ == "__main__":
    main()
