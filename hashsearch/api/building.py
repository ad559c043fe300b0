"""The steps that turn documents into stored rows, shared by ``Searcher.build`` and its updates:
options checked before any slow work, a corpus read, documents paired with their codes and word counts."""
from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hashsearch.errors import CorpusError, InvalidParameterError
from hashsearch.index.words import encode_words
from hashsearch.model.hasher import SemanticHasher
from hashsearch.store.schema import StoredDocument
from hashsearch.text.analysis import Analyzer
from hashsearch.text.corpus import Corpus, Document, Source, read_corpus
from hashsearch.text.features import TextFeatures
from hashsearch.text.records import Fields, fields_from_options

FEATURE_OPTIONS = ("max_features", "min_df", "max_df", "weighting", "language")
READ_OPTIONS = ("id_field", "text_field", "title_field", "keep_strings")  # which fields make a document


class StageClock:
    """Seconds spent in each named step of a build, for reports and benchmarks."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = now - self._last
        self._last = now


def configure(*, bits: int, seed: int, quiet: bool, **options: Any) -> tuple[TextFeatures, SemanticHasher]:
    """Validate every option before any slow work starts."""
    feature_options = {name: options.pop(name) for name in FEATURE_OPTIONS if name in options}
    try:
        hasher = SemanticHasher(bits=bits, seed=seed, quiet=quiet, **options)
    except TypeError:
        allowed = sorted(set(SemanticHasher().get_params()) | set(FEATURE_OPTIONS))
        raise InvalidParameterError(f"unknown option(s) {', '.join(sorted(options))}. "
                                    f"Known options: {', '.join(allowed)}.") from None
    hasher.check_params()
    features = TextFeatures(**feature_options)
    features.check_params()
    return features, hasher


def read_fields(options: dict[str, Any]) -> Fields:
    """The ``READ_OPTIONS`` taken out of ``options`` (keywords of build, index and add), as ``Fields``:
    ``id_field`` (default "id"), ``text_field`` (a name or a list, joined; default "text"),
    ``title_field``, ``keep_strings`` (CSV values stay strings instead of being typed)."""
    chosen = {name: options.pop(name) for name in READ_OPTIONS if name in options}
    return fields_from_options(id_field=chosen.get("id_field"), text_fields=chosen.get("text_field"),
                               title_field=chosen.get("title_field"), typed=not chosen.get("keep_strings", False))


def read_nonempty(source: Source, fields: Fields, quiet: bool) -> Corpus:
    corpus = read_corpus(source, fields=fields, quiet=quiet)
    if not corpus.documents:
        skipped = len(corpus.skipped_empty) + len(corpus.skipped_binary)
        name = source if isinstance(source, (str, Path)) else "the documents given"
        raise CorpusError(f"{name}: no documents to index"
                          + (f" ({skipped} empty or binary skipped)" if skipped else "")
                          + ". Give a folder of .txt/.md/.html files, or a .jsonl, .json, .csv or .parquet "
                            "file of records with an id and a text.")
    return corpus


def stored_rows(documents: Sequence[Document], codes: np.ndarray, analyzer: Analyzer) -> Iterable[StoredDocument]:
    """Each document with its code and its word counts (its terms by ``analyzer``), as stored."""
    for document, code in zip(documents, codes, strict=False):
        yield StoredDocument(document.id, code.tobytes(), encode_words(analyzer.terms(document.text)),
                             document.content_hash, document.text, document.metadata)
