"""Input weighting and vocabulary size: which text features make the best codes, measured in one run.

    python benchmarks/weighting.py [--corpora 20ng,reuters] [--bits 32] [--weightings tfidf,log,bm25]
                                   [--vocab-sizes 10000,5000,20000]

The raw train texts go through hashsearch's own ``TextFeatures`` (tokenizer, stop words, document
frequency limits, the ``max_features`` most frequent terms, idf). Their word counts are then weighted
in one of three ways, each row scaled to unit length:

    tfidf   count * idf                                          (what hashsearch uses)
    log     (1 + ln count) * idf                                 (sublinear term frequency)
    bm25    count * (k1 + 1) / (count + k1 * (1 - b + b * length / mean length)) * idf,  k1 = 1.2, b = 0.75
            (length = the document's vocabulary words)

Every weighting runs at the first vocabulary size; the first weighting also runs at the other sizes.
For each: exact cosine, ITQ and the default SemanticHasher (seed 0), all on the same matrix, precision@100
with every test document as a query. Writes the "weighting" section of RESULTS.md and prints it.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.baselines import ITQ  # noqa: E402
from benchmarks.datasets import DEFAULT_DIR, load_text  # noqa: E402
from benchmarks.metrics import precision_at_k_codes, precision_at_k_cosine  # noqa: E402
from benchmarks.quality import write_section  # noqa: E402
from hashsearch import SemanticHasher  # noqa: E402
from hashsearch.features import TextFeatures  # noqa: E402

BM25_K1, BM25_B = 1.2, 0.75
WEIGHTINGS = ("tfidf", "log", "bm25")


def word_counts(features: TextFeatures, texts: list[str]) -> sp.csr_matrix:
    """Counts of the vocabulary's words per text, counted as hashsearch counts them (the input every
    weighting starts from)."""
    counts, columns, indptr = features._count(texts)
    return sp.csr_matrix((counts.astype(np.float64), columns, indptr), shape=(len(texts), features.n_features))


def weighted(counts: sp.csr_matrix, idf: np.ndarray, weighting: str, mean_length: float) -> sp.csr_matrix:
    X = counts.copy()
    if weighting == "log":
        X.data = 1 + np.log(X.data)
    elif weighting == "bm25":
        lengths = np.repeat(np.asarray(counts.sum(axis=1)).ravel(), np.diff(counts.indptr))
        X.data = X.data * (BM25_K1 + 1) / (X.data + BM25_K1 * (1 - BM25_B + BM25_B * lengths / mean_length))
    X = sp.csr_matrix(X.multiply(idf[None, :]))
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1 / norms) @ X, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--corpora", default="20ng,reuters")
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--weightings", default="tfidf,log,bm25")
    parser.add_argument("--vocab-sizes", default="10000,5000,20000")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    weightings = args.weightings.split(",")
    if unknown := set(weightings) - set(WEIGHTINGS):
        parser.error(f"--weightings: unknown {sorted(unknown)}; choose from {', '.join(WEIGHTINGS)}")
    sizes = [int(s) for s in args.vocab_sizes.split(",")]
    runs = [(w, sizes[0]) for w in weightings] + [(weightings[0], s) for s in sizes[1:]]
    lines = ["## Input weighting and vocabulary size", "", f"Command: `python {' '.join(sys.argv)}`  ",
             f"{args.bits}-bit codes, the default SemanticHasher (seed 0) and ITQ on each matrix; every test "
             f"document a query; torch {torch.__version__}, {torch.get_num_threads()} threads; "
             f"date {time.strftime('%Y-%m-%d')}.",
             ""]
    for corpus in args.corpora.split(","):
        train, test = load_text(corpus, args.data_dir)
        lines += [f"### {corpus}", "", f"| weighting | vocabulary | exact cosine | ITQ {args.bits} bits | "
                  f"hashsearch {args.bits} bits (train s) |", "|---|---|---|---|---|"]
        for size in dict.fromkeys(s for _, s in runs):
            features = TextFeatures(max_features=size)
            reference = features.fit_transform(train.texts)
            counts_train, counts_test = word_counts(features, train.texts), word_counts(features, test.texts)
            mean_length = float(counts_train.sum()) / counts_train.shape[0]
            # Our counting must reproduce hashsearch's own TF-IDF, or the comparison is not like for like.
            assert abs(weighted(counts_train, features.idf_, "tfidf", mean_length) - reference).max() < 1e-5
            for weighting in [w for w, s in runs if s == size]:
                X_train = weighted(counts_train, features.idf_, weighting, mean_length)
                X_test = weighted(counts_test, features.idf_, weighting, mean_length)
                cosine = precision_at_k_cosine(X_test, X_train, test.labels, train.labels)
                itq = ITQ(bits=args.bits, seed=0).fit(X_train)
                p_itq = precision_at_k_codes(itq.encode(X_test), itq.encode(X_train), test.labels, train.labels)
                started = time.perf_counter()
                hasher = SemanticHasher(bits=args.bits, seed=0).fit(X_train)
                seconds = time.perf_counter() - started
                p_ours = precision_at_k_codes(hasher.encode(X_test), hasher.encode(X_train), test.labels,
                                              train.labels)
                lines.append(f"| {weighting} | {features.n_features:,} | {cosine:.3f} | {p_itq:.3f} | "
                             f"{p_ours:.3f} ({seconds:.0f} s) |")
                print(corpus, lines[-1], flush=True)
        lines.append("")
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        write_section("weighting", section)


if __name__ == "__main__":
    main()
