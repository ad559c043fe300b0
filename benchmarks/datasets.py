"""Loading the shared benchmark corpora (see ../shared/datasets/README.md). Benchmarks only."""
from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
CORPORA = {"20ng": ("20news.jsonl.gz", "ng20-bydate.tfidf10k.npz"),
           "reuters": ("reuters21578-apte.jsonl.gz", "reuters-apte.tfidf10k.npz")}


@dataclass
class Split:
    ids: list[str]
    texts: list[str]
    labels: np.ndarray  # (n, n_labels) 0/1


@dataclass
class Matrices:
    X_train: sp.csr_matrix
    X_test: sp.csr_matrix
    Y_train: np.ndarray
    Y_test: np.ndarray


_REPLY = re.compile(r"^(\s*(re|fwd?|fw)\s*:\s*)+", re.IGNORECASE)


def title(text: str) -> str:
    """The first line without reply prefixes: a 20NG Subject line (after ``subject_and_body``), a Reuters
    headline. What a person types to find that document, or one like it."""
    return _REPLY.sub("", text.split("\n", 1)[0]).strip()


def subject_and_body(text: str) -> str:
    """20NG: keep the Subject line and the body; other headers leak the label (e-mail addresses)."""
    headers, _, body = text.partition("\n\n")
    subject = next((line for line in headers.splitlines() if line.startswith("Subject:")), "")
    return subject[len("Subject:"):].strip() + "\n\n" + body


def load_text(corpus: str, data_dir: Path = DEFAULT_DIR) -> tuple[Split, Split]:
    with gzip.open(data_dir / CORPORA[corpus][0], "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    names = sorted({label for r in records for label in r["labels"]})
    column = {name: i for i, name in enumerate(names)}

    def split(which: str) -> Split:
        chosen = [r for r in records if r["split"] == which]
        labels = np.zeros((len(chosen), len(names)), dtype=np.uint8)
        for row, record in enumerate(chosen):
            labels[row, [column[label] for label in record["labels"]]] = 1
        clean = subject_and_body if corpus == "20ng" else (lambda text: text)
        return Split([r["id"] for r in chosen], [clean(r["text"]) for r in chosen], labels)

    return split("train"), split("test")


def load_matrices(corpus: str, data_dir: Path = DEFAULT_DIR) -> Matrices:
    z = np.load(data_dir / CORPORA[corpus][1], allow_pickle=False)

    def csr(name: str) -> sp.csr_matrix:
        return sp.csr_matrix((z[f"{name}_data"], z[f"{name}_indices"], z[f"{name}_indptr"]),
                             shape=tuple(z[f"{name}_shape"]))

    return Matrices(csr("train"), csr("test"), z["gnd_train"], z["gnd_test"])
