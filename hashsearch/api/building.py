"""The steps that turn documents into stored rows, shared by ``Searcher.build`` and its updates:
options checked before any slow work, the fields that make a document, documents paired with their codes
and word counts."""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from hashsearch.errors import InvalidParameterError
from hashsearch.index.words import encode_words
from hashsearch.model.hasher import SemanticHasher
from hashsearch.store.schema import StoredDocument
from hashsearch.text.corpus import Document
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
        """Charge ``stage`` the time since the last lap (added to what it had)."""
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._last
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


def encode_documents(documents: Sequence[Document], features: TextFeatures, hasher: SemanticHasher,
                     stages: StageClock | None = None) -> list[StoredDocument]:
    """Each document with its code and word counts, as stored. Each text is analysed once, for both
    (``features.transform_terms``); ``stages``, when given, is charged the vectorizing (analysis and
    weighted rows) and the encoding (codes, word counts, content hashes) time."""
    term_lists = [features.analyzer_.terms(document.text) for document in documents]
    rows = features.transform_terms(term_lists)
    if stages is not None:
        stages.lap("vectorizing")
    codes = hasher.encode(rows)
    stored = [StoredDocument(document.id, code.tobytes(), encode_words(terms), document.content_hash, document.text,
                             document.metadata)
              for document, code, terms in zip(documents, codes, term_lists, strict=True)]
    if stages is not None:
        stages.lap("encoding")
    return stored
