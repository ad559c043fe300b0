"""Writing an index: ``build_index`` makes one from a source, ``IndexWriter`` adds, updates, syncs and
removes documents in one that is open. Every write is one database transaction and returns its
``ChangeReport``; after it commits, the writer's ``catch_up`` swaps the new documents into the searcher
it serves (searches meanwhile read the previous snapshot).

The split follows tantivy's: a reader (``Searcher``), a writer (this), and a merge policy (``Snapshot``'s
``wants_merge``: when the segments written since the main one are worth reading into it).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hashsearch.api.results import ChangeReport
from hashsearch.errors import InvalidParameterError
from hashsearch.progress import progress, progress_bar
from hashsearch.store.storage import Storage
from hashsearch.text.corpus import Corpus, Source, read_corpus

if TYPE_CHECKING:
    from hashsearch.api.snapshot import Snapshot

DEFAULT_BITS = 64  # beat 32 bits in nearly every column of benchmarks/user_queries.py, for 4 more bytes a document


def build_index(source: Source, db: str | Path, *, bits: int = DEFAULT_BITS, seed: int = 0, quiet: bool = True,
                **options: Any) -> tuple[Storage, ChangeReport]:
    """Learn vocabulary and model from ``source``, encode every document and store it all in ``db``;
    returns the open storage and the report. ``options``: see ``Searcher.build``.

    The source is read twice, as a stream (``streaming``): once for the vocabulary's term counts and a
    training sample (at most the model's ``max_train_documents``), once to encode and store
    ``BATCH_DOCUMENTS`` at a time, so memory is bounded by the sample and a batch, not by the corpus.
    Everything is written in one transaction, an index already in ``db`` replaced in it: until it
    commits, readers see the old index, and a build that fails or is killed leaves it whole."""
    from hashsearch.api.building import StageClock, configure, encode_documents, read_fields
    from hashsearch.api.streaming import Replay, batches, scan

    started = time.perf_counter()
    fields = read_fields(options)
    features, hasher = configure(bits=bits, seed=seed, quiet=quiet, **options)
    stages = StageClock()
    with Replay(source, fields) as replay:
        found = scan(replay, features.new_analyzer(), sample_size=hasher.max_train_documents, seed=seed,
                     quiet=quiet)
        features.fit_counts(found.counts)
        stages.lap("reading")
        hasher.fit(features.transform([d.text for d in found.sample]))
        stages.lap("training")
        storage = Storage.create(db)
        try:
            with storage.transaction() as conn, storage.replacing_documents(conn):
                bar = progress_bar(total=found.documents, desc="indexing", quiet=quiet, unit="doc")
                for batch in batches(doc for _, doc in replay.read()):
                    rows = encode_documents(batch, features, hasher, stages)
                    storage.insert_documents(conn, rows)
                    stages.lap("storing")
                    bar.update(len(batch))
                bar.close()
                config_json, weights = hasher.to_bytes()
                storage.write_artifact(conn, "vocabulary", features.to_json().encode("utf-8"))
                storage.write_artifact(conn, "model_config", config_json.encode("utf-8"))
                storage.write_artifact(conn, "model_weights", weights)
                storage.write_meta(conn, {
                    "bits": bits,
                    "variant": hasher.variant,
                    "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "training_documents": len(found.sample),
                    "training_oov_share": features.out_of_vocabulary_share(
                        d.text for d in found.sample[::max(1, len(found.sample) // 2000)]),
                })
            stages.lap("storing")
        except BaseException:
            storage.close()
            raise
    return storage, ChangeReport(added=found.documents, skipped_empty=found.skipped_empty,
                                 skipped_binary=found.skipped_binary, guessed_encodings=found.guessed_encodings,
                                 seconds=time.perf_counter() - started, stage_seconds=stages.seconds)


class IndexWriter:
    """The writes to one open index. ``lock`` serialises them (searches never take it); ``current`` gives
    the snapshot to encode with (its vocabulary and model); ``catch_up`` makes the searcher take what a
    write committed."""

    def __init__(self, storage: Storage, lock: threading.Lock, current: Callable[[], Snapshot],
                 catch_up: Callable[[], None]) -> None:
        self._storage = storage
        self._lock = lock
        self._current = current
        self._catch_up = catch_up

    def add(self, source: Source, *, quiet: bool = True, **read_options: Any) -> ChangeReport:
        """Add or update documents with the existing model; removes nothing. ``read_options``: which
        fields make a document (id_field, text_field, title_field, keep_strings)."""
        from hashsearch.api.building import READ_OPTIONS, read_fields

        fields = read_fields(read_options)
        if read_options:
            raise InvalidParameterError(f"unknown option(s) {', '.join(sorted(read_options))}. "
                                        f"add takes: {', '.join(READ_OPTIONS)}.")
        return self.apply(read_corpus(source, fields=fields, quiet=quiet), sync=False, prune=False, quiet=quiet)

    def remove(self, ids: Iterable[str]) -> ChangeReport:
        """Remove documents by id; ids not in the index are listed in the report's ``missing``."""
        started = time.perf_counter()
        ids = list(dict.fromkeys(str(i) for i in ids))
        with self._lock:
            present = self._storage.read_content_hashes(ids)
            found = [i for i in ids if i in present]
            with self._storage.transaction() as conn:
                self._storage.lock_writes(conn)
                self._storage.delete_documents(conn, found)
                self._storage.log_changes(conn, found)
                self._storage.write_meta(conn, {})
            self._catch_up()
        return ChangeReport(removed=len(found), missing=[i for i in ids if i not in present],
                            seconds=time.perf_counter() - started)

    def apply(self, corpus: Corpus, *, sync: bool, prune: bool, quiet: bool) -> ChangeReport:
        """Write what ``corpus`` changes: new and changed documents; on a ``sync`` also the removal of
        those now empty or binary, and with ``prune`` of those the corpus lacks (else listed only)."""
        from hashsearch.api.building import encode_documents

        started = time.perf_counter()
        with self._lock:
            snapshot = self._current()
            # A sync compares every stored document; an add only those it brings.
            present = self._storage.read_content_hashes(None if sync else [d.id for d in corpus.documents])
            changed = [d for d in corpus.documents if present.get(d.id) != d.content_hash]
            # An empty document replaces nothing and is not indexed; on a re-index it counts as gone.
            emptied = set(corpus.skipped_empty + corpus.skipped_binary)
            gone = [i for i in present if i in emptied] if sync else []
            incoming = {d.id for d in corpus.documents} | emptied
            not_in_source = sorted(i for i in present if i not in incoming) if sync else []
            if prune:
                gone += not_in_source
            rows = encode_documents(changed, snapshot.features, snapshot.hasher)
            touched = [d.id for d in changed] + gone
            with self._storage.transaction() as conn:
                self._storage.lock_writes(conn)
                self._storage.delete_documents(conn, touched)
                self._storage.insert_documents(conn, progress(rows, desc="storing", quiet=quiet, unit="doc"))
                self._storage.log_changes(conn, touched)
                self._storage.write_meta(conn, {})
            self._catch_up()
        updated = sum(d.id in present for d in changed)
        return ChangeReport(added=len(changed) - updated, updated=updated, removed=len(gone),
                            unchanged=len(corpus.documents) - len(changed), skipped_empty=corpus.skipped_empty,
                            skipped_binary=corpus.skipped_binary, not_in_source=not_in_source,
                            guessed_encodings=corpus.guessed_encodings, seconds=time.perf_counter() - started)
