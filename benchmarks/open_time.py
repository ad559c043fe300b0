"""Time to open a large index: the first opening reads every document and builds the search structures
(saving the main segment they make), later ones load the saved segment.

    python benchmarks/open_time.py [--documents 1000000]

The index: a 64-bit model trained on data/sample/, then topped up to ``--documents`` rows that hold
real-length texts (20NG train posts, drawn with replacement), their TF-IDF vectors and random codes, so
the database is as large as a real index of that many posts. Prints the open time of three rounds:
the first reads everything, the others load the segment it saved.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.datasets import DEFAULT_DIR, load_text  # noqa: E402
from hashsearch import Searcher  # noqa: E402
from hashsearch.index.words import encode_words  # noqa: E402
from hashsearch.store.schema import StoredDocument  # noqa: E402
from hashsearch.store.storage import Storage  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--documents", type=int, default=1_000_000)
    args = parser.parse_args()
    train, _ = load_text("20ng", args.data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "open.db"
        with Searcher.build(SAMPLE, db, bits=64) as searcher:
            extra = args.documents - len(searcher)
        rng = np.random.default_rng(0)
        codes = rng.integers(0, 256, (extra, 8), dtype=np.uint8)
        picks = rng.integers(0, len(train.texts), extra)
        storage = Storage.open(db)
        with storage.transaction() as conn:
            storage.insert_documents(conn, (StoredDocument(f"extra-{i}", codes[i].tobytes(),
                                                           encode_words(train.texts[pick]), "-", train.texts[pick], {})
                                            for i, pick in enumerate(picks)))
            storage.reset_changes(conn)  # a bulk write past the change log: the next opening reads everything
        storage.close()
        print(f"{args.documents:,} documents, database {db.stat().st_size / 1e9:.2f} GB")
        for round_number in range(3):
            started = time.perf_counter()
            searcher = Searcher.open(db)
            print(f"round {round_number + 1}: opened {len(searcher):,} documents in "
                  f"{time.perf_counter() - started:.2f} s", flush=True)
            searcher.close()


if __name__ == "__main__":
    main()
