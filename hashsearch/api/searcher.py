"""``Searcher``: the one object applications and the CLI use to build, update and query an index.

A searcher holds an immutable ``Snapshot`` (vocabulary, model, ids, code and word indexes, filter
columns). Searches read whichever snapshot is current; writes commit to the database first and then
swap in a new snapshot, so any number of threads can search while another adds or removes documents.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hashsearch.api import querying
from hashsearch.api.guard import database_errors
from hashsearch.api.results import ChangeReport, Hit
from hashsearch.api.writer import DEFAULT_BITS, IndexWriter, build_index
from hashsearch.errors import DocumentNotFoundError, IndexNotFoundError, InvalidParameterError, QueryError
from hashsearch.store.storage import Storage
from hashsearch.text.corpus import Document, Source, read_corpus

if TYPE_CHECKING:
    import numpy as np

    from hashsearch.api.snapshot import Snapshot

# The search structures (numpy, FAISS, SciPy) are imported by the methods that need them, once: a
# process that only gets or removes documents (Searcher.open(lazy=True)) never pays for them.

logger = logging.getLogger(__name__)


class Searcher:
    """A semantic-hashing index stored in one database. Create with ``build``, ``open`` or ``index``."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._write_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._loaded: Snapshot | None = None  # read by open and build (or, opened lazily, on first need)
        self._merging: threading.Thread | None = None
        self.writer = IndexWriter(storage, self._write_lock, lambda: self._snapshot, self._catch_up)
        self.last_change: ChangeReport | None = None  # the report of this searcher's latest write

    @property
    def _snapshot(self) -> Snapshot:
        """The current snapshot, read from the database the first time a search (or a write that
        encodes) needs it: opening an index to get documents or remove some reads no model or codes."""
        snapshot = self._loaded
        if snapshot is None:
            with self._load_lock:
                if self._loaded is None:
                    self._loaded = self._load_snapshot()
                snapshot = self._loaded
        return snapshot

    @_snapshot.setter
    def _snapshot(self, snapshot: Snapshot) -> None:
        self._loaded = snapshot

    # -- creating and opening ---------------------------------------------------------------------------

    @classmethod
    @database_errors
    def build(cls, source: Source, db: str | Path = "hashsearch.db", *, bits: int = DEFAULT_BITS, seed: int = 0,
              quiet: bool = True, **options: Any) -> Searcher:
        """Learn vocabulary and model from ``source``, encode every document and store it all in ``db``;
        the report is ``last_change``.

        An index already in ``db`` is replaced in one transaction: until it commits, readers see the old one.
        ``options``: which fields make a document (id_field, text_field, title_field, keep_strings: see
        ``building.read_fields``), vocabulary (max_features, min_df, max_df, weighting, language) and
        training (see ``SemanticHasher``).
        """
        storage, report = build_index(source, db, bits=bits, seed=seed, quiet=quiet, **options)
        opened = time.perf_counter()
        try:
            searcher = cls(storage)
            searcher._loaded = searcher._load_snapshot()
        except BaseException:
            storage.close()
            raise
        report.stage_seconds["opening"] = time.perf_counter() - opened
        report.seconds += report.stage_seconds["opening"]
        searcher.last_change = report
        return searcher

    @classmethod
    @database_errors
    def open(cls, db: str | Path = "hashsearch.db", *, lazy: bool = False) -> Searcher:
        """Open an index built earlier: its vocabulary, model and segments are read (the code indexes
        rebuilt from the stored codes), or with ``lazy`` when a search first needs them, for a caller
        that only gets or removes documents (the CLI's ``get`` and ``remove``)."""
        storage = Storage.open(db)
        try:
            searcher = cls(storage)
            if not lazy:
                searcher._loaded = searcher._load_snapshot()
        except BaseException:
            storage.close()
            raise
        return searcher

    @classmethod
    @database_errors
    def index(cls, source: Source, db: str | Path = "hashsearch.db", *, retrain: bool = False, prune: bool = False,
              quiet: bool = True, **build_options: Any) -> Searcher:
        """Bring ``db`` up to date with ``source``: build when there is no index yet or ``retrain`` is set,
        otherwise add new documents and re-encode changed ones with the existing model (a document now
        empty is removed). Indexed documents that ``source`` lacks (added with ``add``, or files since
        deleted) are kept and listed in the report's ``not_in_source``; ``prune`` removes them."""
        if not retrain:
            try:
                searcher = cls.open(db)
            except IndexNotFoundError:
                pass
            else:
                try:
                    from hashsearch.api.building import read_fields

                    fields = read_fields(build_options)
                    searcher._check_same_settings(build_options)
                    corpus = read_corpus(source, fields=fields, quiet=quiet)
                    searcher.last_change = searcher.writer.apply(corpus, sync=True, prune=prune, quiet=quiet)
                except BaseException:
                    searcher.close()
                    raise
                return searcher
        return cls.build(source, db, quiet=quiet, **build_options)

    def _check_same_settings(self, options: Mapping[str, Any]) -> None:
        bits = options.get("bits")
        if bits is not None and bits != self.bits:
            raise InvalidParameterError(f"the index at {self._storage.display_name} uses {self.bits}-bit codes, "
                                        f"not {bits}. Add --retrain to rebuild it with {bits} bits.")

    def _load_snapshot(self, *, anew: bool = False, weights: bool = True) -> Snapshot:
        """Vocabulary, model and documents from the database: the saved main segment and the changes
        since, or (``anew``) every document read again; without the model's ``weights`` (most of the
        bytes, and only encoding needs them), a snapshot that describes the index but cannot encode."""
        from hashsearch.api.snapshot import Snapshot
        from hashsearch.model.hasher import SemanticHasher
        from hashsearch.text.features import TextFeatures

        storage = self._storage
        features = TextFeatures.from_json(storage.read_artifact("vocabulary").decode("utf-8"))
        hasher = SemanticHasher.from_bytes(storage.read_artifact("model_config").decode("utf-8"),
                                           storage.read_artifact("model_weights") if weights else None)
        return (Snapshot.read if anew else Snapshot.load)(storage, features, hasher)

    @database_errors
    def refresh(self) -> None:
        """Read everything from the database again, into one segment (``refresh_if_changed`` only
        catches up with what changed)."""
        with self._write_lock:
            self._snapshot = self._load_snapshot(anew=True)

    @database_errors
    def refresh_if_changed(self) -> bool:
        """Catch up with the writes committed since this searcher's snapshot (one small read when none
        were): from the database's change log, as after a write of its own."""
        if self._loaded is None or self._storage.read_generation() == self._loaded.generation:
            return False  # not read yet (the first search reads the latest), or nothing new
        with self._write_lock:
            self._catch_up()
        return True

    def _catch_up(self) -> None:
        """Bring the snapshot up to the latest commit (the caller holds the write lock): the ids the
        logged changes touched are updated in it, or, when the log no longer reaches back to the
        snapshot (an index rebuilt, or too many changes since), everything is read again. Nothing to
        do before the snapshot is first read: it is read as it is then."""
        if self._loaded is None:
            return
        snapshot = self._loaded
        generation = self._storage.read_generation()
        changes = self._storage.read_changes(snapshot.change_seq)
        if changes is None:
            self._snapshot = self._load_snapshot()
        else:
            self._snapshot = snapshot.after_changes(self._storage, *changes, generation)
        if self._snapshot.wants_merge and (self._merging is None or not self._merging.is_alive()):
            self._merging = threading.Thread(target=self._merge, name="hashsearch-merge", daemon=True)
            self._merging.start()

    def _merge(self) -> None:
        """Read everything into one main segment off the write lock (seconds on a large index: writes and
        searches go on meanwhile), then take it with the changes committed since replayed."""
        from hashsearch.api.snapshot import Snapshot

        before = self._snapshot
        try:
            merged = Snapshot.read(self._storage, before.features, before.hasher)
        except Exception:  # the next write past the threshold tries again; nothing is lost meanwhile
            logger.exception("could not merge the index's segments")
            return
        with self._write_lock:
            if self._snapshot.hasher is not before.hasher:  # the index was rebuilt meanwhile and read anew
                return
            generation = self._storage.read_generation()
            changes = self._storage.read_changes(merged.change_seq)
            if changes is not None:
                self._snapshot = merged.after_changes(self._storage, *changes, generation)

    def close(self) -> None:
        """Close the database connections, once a merge under way has ended."""
        if self._merging is not None:
            self._merging.join()
        self._storage.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- searching ----------------------------------------------------------------------------------

    @property
    def bits(self) -> int:
        return self._loaded.hasher.bits if self._loaded is not None else int(self._storage.read_meta()["bits"])

    def __len__(self) -> int:
        return len(self._loaded) if self._loaded is not None else self._storage.count_documents()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Packed codes (n, bits // 8) for texts, exactly as documents are encoded."""
        snapshot = self._snapshot
        return snapshot.hasher.encode(snapshot.features.transform(texts))

    @database_errors
    def search(self, text: str, k: int = 10, radius: int | None = None, *, mode: str = "hybrid",
               where: Mapping[str, Any] | None = None, offset: int = 0, max_distance: int | None = None,
               snippets: bool | str = True) -> list[Hit]:
        """The ``k`` best documents for the query, best first.

        ``mode="hybrid"`` (the default) scores the documents that hold the query's words and the nearest
        codes by both (``ranking.hybrid``): what a search box needs, for a few words, a title or a whole
        document. ``mode="hamming"`` is the pure code path: the true Hamming top ``k`` (exact code, then
        bit flips within ``radius``, then a scan), the fastest, and what the codes-alone benchmarks
        measure. ``where`` filters on metadata (``filters``): the hits are the best ``k`` among the
        documents that match, never fewer because of the filter. ``offset`` skips that many hits (pages
        in a stable order); ``max_distance`` drops hits farther than that many bits. Ties come in a fixed
        order given by a hash of the document id. ``snippets``: True (or "lead") gives each hit the
        stored start of its text; "passage" the passage that holds most of the query's words, with their
        spans in ``Hit.marks`` (``snippets.best_passage``: reads the hits' texts, for a search box);
        False reads none, for callers that show documents from their own store.
        """
        return self.search_many([text], k, radius, mode=mode, where=where, offset=offset,
                                max_distance=max_distance, snippets=snippets)[0]

    @database_errors
    def search_many(self, texts: Sequence[str], k: int = 10, radius: int | None = None, *, mode: str = "hybrid",
                    where: Mapping[str, Any] | None = None, offset: int = 0, max_distance: int | None = None,
                    snippets: bool | str = True) -> list[list[Hit]]:
        """``search`` for several queries: each encoded and ranked as ``search`` does it (the same hits,
        exactly), ``where`` evaluated once and the snippets read in one round trip."""
        if isinstance(texts, str):
            raise QueryError("search_many takes a list of query texts, not one string. Use search(text).")
        querying.check_queries(texts)
        snapshot = self._snapshot
        radius, page, parts = querying.check_search_args(snapshot, k, radius, mode, where, offset, max_distance,
                                                      snippets)
        ranked = [querying.rank(parts, querying.encoded_query(snapshot, text, mode), radius, page) for text in texts]
        analyzer = snapshot.features.analyzer_
        query_terms = [set(analyzer.terms(text)) for text in texts] if snippets == "passage" else None
        return querying.hits_many(self._storage, snapshot, ranked, snippets, query_terms)

    @database_errors
    def similar(self, doc_id: str, k: int = 10, *, mode: str = "hybrid", where: Mapping[str, Any] | None = None,
                offset: int = 0, max_distance: int | None = None, snippets: bool | str = True) -> list[Hit]:
        """More like this: documents like ``doc_id``, ranked from its stored code and sketch as a document
        would be (``ranking.document``; nothing is read or encoded), the document itself left out."""
        snapshot, doc_id = self._snapshot, str(doc_id)
        found = snapshot.find(doc_id)
        if found is None:
            raise DocumentNotFoundError(f"no document {doc_id!r} in the index. Give the id of an indexed document.")
        radius, page, parts = querying.check_search_args(snapshot, k, None, mode, where, offset, max_distance,
                                                      snippets)
        from hashsearch.index.parts import Page
        from hashsearch.index.ranking import Query

        # One hit deeper, from the top: the document itself is then among them, and left out.
        deeper = Page(page.depth + 1, 0, page.max_distance)
        segment, row = found
        code = segment.index.codes[row]
        query = Query(code, sketch=segment.sketches[row]) if mode == "hybrid" else Query(code)
        ids, distances, scores = querying.rank(parts, query, radius, deeper)
        kept = [i for i, other in enumerate(ids) if other != doc_id][page.offset:page.depth]
        chosen = ([ids[i] for i in kept], [distances[i] for i in kept], [scores[i] for i in kept])
        return querying.hits_of(self._storage, snapshot, chosen, snippets)

    @database_errors
    def get(self, ids: Iterable[str]) -> list[Document]:
        """The documents (id, text, metadata) with these ids, in the order asked; ids not stored are left out."""
        ids = [str(i) for i in ids]
        found = self._storage.read_documents(ids)
        return [Document(i, *found[i]) for i in ids if i in found]

    @database_errors
    def facets(self, field: str, *, q: str | None = None, where: Mapping[str, Any] | None = None,
               depth: int = 1000) -> list[tuple[Any, int]]:
        """How many matching documents hold each value of ``field``, most first (then by value): the
        documents ``where`` matches, and with a query ``q`` only the first ``depth`` hits of its search
        (the documents a search box would page through). Counted from the in-memory filter columns."""
        snapshot = self._snapshot
        if field not in snapshot.fields:
            raise InvalidParameterError(f"field must be one of the index's metadata fields "
                                        f"({', '.join(snapshot.fields) or 'none'}). Got {field!r} instead.")
        ids = None
        if q is not None:
            ids = [hit.id for hit in self.search(q, k=depth, where=where, snippets=False)]
        counts = snapshot.facet_counts(field, where, ids)
        return sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))

    @database_errors
    def knows(self, text: str) -> bool:
        """Whether the index holds any of the words of ``text`` (as analysed): a query that has no hits
        and no known word has none because nothing is known about it."""
        from hashsearch.index.words import query_words

        snapshot = self._snapshot
        return bool(snapshot.holds_any(query_words(snapshot.features.analyzer_.terms(text))[0]))

    def search_paths(self) -> dict[str, int]:
        """How many searches of the code index each path answered since this snapshot's segments were
        made: the query's own bucket, a probed ball, or a scan (numpy, bucket keys, FAISS; ``scans`` their
        sum). For tests and benchmarks that check which path a workload takes."""
        return self._snapshot.search_paths()

    @database_errors
    def info(self, *, recent: int = 300) -> dict[str, Any]:
        """What the index holds and how healthy its codes are; says when a retrain would help (``health``).
        The ``recent`` newest documents, their first ``health.RECENT_TERMS`` words, judge whether the
        vocabulary has gone stale."""
        from hashsearch.api import health

        # Opened lazily (the CLI's info), nothing is read yet: read what the facts need, not the weights.
        snapshot = self._loaded if self._loaded is not None else self._load_snapshot(weights=False)
        return health.index_facts(snapshot, self._storage, recent=recent)

    # -- updating -----------------------------------------------------------------------------------

    @database_errors
    def add(self, source: Source, *, quiet: bool = True, **read_options: Any) -> ChangeReport:
        """Add or update documents with the existing model; removes nothing (``IndexWriter.add``)."""
        self.last_change = self.writer.add(source, quiet=quiet, **read_options)
        return self.last_change

    @database_errors
    def remove(self, ids: Iterable[str]) -> ChangeReport:
        """Remove documents by id; ids not in the index are listed in the report's ``missing``."""
        self.last_change = self.writer.remove(ids)
        return self.last_change
