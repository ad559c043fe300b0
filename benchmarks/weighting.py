"""Input weighting and vocabulary size: which text features make the best codes, measured in one run.

    python benchmarks/weighting.py [--corpora 20ng,reuters] [--bits 32] [--weightings tfidf,log,bm25]
                                   [--vocab-sizes 10000,5000,20000]

The raw train texts go through hashsearch's own ``TextFeatures`` (tokenizer, stop words, document
frequency limits, the ``max_features`` most frequent terms, idf) with each of its weightings
(``TextFeatures`` says the formulas: bm25, tfidf, log), exactly as ``Searcher.build`` would.

Every weighting runs at the first vocabulary size; the first weighting also runs at the other sizes.
For each: exact cosine, ITQ and the default SemanticHasher (seed 0), all on the same matrix, precision@100
with every test document as a query. Writes the "weighting" section of RESULTS.md and prints it.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.baselines import ITQ  # noqa: E402
from benchmarks.datasets import DEFAULT_DIR, load_text  # noqa: E402
from benchmarks.metrics import precision_at_k_codes, precision_at_k_cosine  # noqa: E402
from benchmarks.quality import write_section  # noqa: E402
from hashsearch import SemanticHasher  # noqa: E402
from hashsearch.text.features import WEIGHTINGS, TextFeatures  # noqa: E402


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
        for weighting, size in runs:
            features = TextFeatures(max_features=size, weighting=weighting)
            X_train, X_test = features.fit_transform(train.texts), features.transform(test.texts)
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
