"""Building an index on a Dask cluster: the workers read, analyse and encode the partitions of a Dask
DataFrame (``dask.dataframe.read_parquet`` of a data lake's files, say); this process writes their rows
into the one database in a single transaction (COPY on PostgreSQL), as a local build does. The index
then opens as any other. Needs the ``distributed`` extra (``pip install 'hashsearch[distributed]'``).

Dask rather than Ray or Spark: it is the scheduler of the PyData stack that hashsearch's users already
have (pandas, numpy, Parquet through pyarrow), a pure-Python install that runs the same code on a laptop's
``LocalCluster`` and on a cluster, with no JVM (Spark) and no object store to size (Ray).

The model travels as its saved form (the vocabulary's JSON and the safetensors weights, each read back
with its format version checked), so the workers encode with numpy and never load torch. Without
``model_from``, the vocabulary is learned from term counts the workers gather per partition and this
process sums (``counting.TermCounts``: the same vocabulary a local build of the same documents learns),
and the model is trained here on a sample the workers draw: each keeps its partition's documents with
the smallest hash of (seed, id), and this process keeps the smallest of those, so the sample is uniform
and the same however the data is partitioned.
"""
from __future__ import annotations

import hashlib
import heapq
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hashsearch.api.building import StageClock, configure, encode_documents, read_fields
from hashsearch.api.results import ChangeReport
from hashsearch.errors import CorpusError, InvalidParameterError
from hashsearch.model.hasher import SemanticHasher
from hashsearch.store.schema import StoredDocument
from hashsearch.store.storage import Storage
from hashsearch.text.corpus import Document
from hashsearch.text.counting import TermCounts
from hashsearch.text.features import TextFeatures
from hashsearch.text.records import Fields

TRAINING_FACTS = ("trained_at", "training_documents", "training_oov_share")  # meta a build writes
IN_FLIGHT_PER_WORKER = 2  # partitions computed ahead of the writer: bounds what waits in the cluster's memory


def build_on_dask(frame: Any, db: str | Path, *, client: Any = None, model_from: str | Path | None = None,
                  bits: int = 64, seed: int = 0, quiet: bool = True, **options: Any) -> ChangeReport:
    """Index the rows of the Dask DataFrame ``frame`` into ``db``, replacing any index there, in one
    transaction; returns the report (open the index with ``Searcher.open(db)``).

    ``client``: a ``distributed.Client`` (default: the current one). ``model_from``: an index whose
    vocabulary and model to encode with (trained once, on a sample, then used for every part);
    otherwise they are learned from ``frame`` (see the module docstring) with ``bits``, ``seed`` and the
    training ``options``. ``options`` also take the fields that make a document (id_field, text_field,
    title_field), as ``Searcher.build`` does.
    """
    started = time.perf_counter()
    client = client or _current_client()
    fields = read_fields(options)
    stages = StageClock()
    partitions = frame.to_delayed()
    if model_from is not None:
        if options:
            raise InvalidParameterError(f"unknown option(s) {', '.join(sorted(options))}: with model_from, "
                                        "the vocabulary and model come from that index.")
        features, hasher, trained = read_model(model_from)
    else:
        features, hasher, trained = _learn(client, partitions, fields, bits=bits, seed=seed, quiet=quiet,
                                           options=options)
    stages.lap("training")
    vocabulary, (config, weights) = features.to_json(), hasher.to_bytes()
    storage = Storage.create(db)
    added, skipped = 0, []
    try:
        with storage.transaction() as conn, storage.replacing_documents(conn):
            for rows, empty in _encoded(client, partitions, fields, vocabulary, config, weights):
                stages.lap("encoding")
                added += storage.insert_documents(conn, rows)
                skipped += empty
                stages.lap("storing")
            if not added:
                raise CorpusError("the DataFrame holds no documents to index (every text is empty).")
            storage.write_artifact(conn, "vocabulary", vocabulary.encode("utf-8"))
            storage.write_artifact(conn, "model_config", config.encode("utf-8"))
            storage.write_artifact(conn, "model_weights", weights)
            storage.write_meta(conn, {"bits": hasher.bits, "variant": hasher.variant, **trained})
        stages.lap("storing")
    finally:
        storage.close()
    return ChangeReport(added=added, skipped_empty=skipped, seconds=time.perf_counter() - started,
                        stage_seconds=stages.seconds)


def read_model(db: str | Path) -> tuple[TextFeatures, SemanticHasher, dict[str, Any]]:
    """The vocabulary, model and training facts (date, sample size, out-of-vocabulary share) of the
    index in ``db``."""
    storage = Storage.open(db)
    try:
        features = TextFeatures.from_json(storage.read_artifact("vocabulary").decode("utf-8"))
        hasher = SemanticHasher.from_bytes(storage.read_artifact("model_config").decode("utf-8"),
                                           storage.read_artifact("model_weights"))
        meta = storage.read_meta()
    finally:
        storage.close()
    return features, hasher, {key: meta.get(key) for key in TRAINING_FACTS}


def _current_client() -> Any:
    try:
        from distributed import get_client
    except ImportError:
        raise InvalidParameterError("building on Dask needs the distributed extra: "
                                    "pip install 'hashsearch[distributed]'.") from None
    try:
        return get_client()
    except ValueError:
        raise InvalidParameterError("no Dask client: start one (distributed.Client(...) or a LocalCluster) "
                                    "or pass client=.") from None


def _learn(client: Any, partitions: list[Any], fields: Fields, *, bits: int, seed: int, quiet: bool,
           options: dict[str, Any]) -> tuple[TextFeatures, SemanticHasher, dict[str, Any]]:
    """Vocabulary from the partitions' summed term counts; the model trained here on their sample."""
    import dask

    features, hasher = configure(bits=bits, seed=seed, quiet=quiet, **options)
    size = hasher.max_train_documents
    tasks = [dask.delayed(_count_and_sample)(part, fields, features.language, size, seed) for part in partitions]
    counts, sample = TermCounts(), list[tuple[int, str, str]]()
    for part_counts, part_sample in client.gather(client.compute(tasks)):
        counts.merge(part_counts)
        sample = heapq.nsmallest(size, sample + part_sample)
    if not counts.texts:
        raise CorpusError("the DataFrame holds no documents to index (every text is empty).")
    features.new_analyzer()
    features.fit_counts(counts)
    texts = [text for _, _, text in sorted(sample, key=lambda item: item[1])]
    hasher.fit(features.transform(texts))
    share = features.out_of_vocabulary_share(texts[::max(1, len(texts) // 2000)])
    return features, hasher, {"trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "training_documents": len(texts), "training_oov_share": share}


def _documents(partition: Any, fields: Fields) -> Iterator[Document]:
    """The documents of one pandas partition (missing values as None, as the Parquet reader gives them)."""
    records = partition.astype(object).where(partition.notna(), None).to_dict("records")
    for number, record in enumerate(records, start=1):
        doc = Document(*fields.document_parts(record, f"partition row {number}"))
        yield doc


def _sample_key(seed: int, doc_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}:{doc_id}".encode(), digest_size=8).digest(), "big")


def _count_and_sample(partition: Any, fields: Fields, language: str | None, size: int,
                      seed: int) -> tuple[TermCounts, list[tuple[int, str, str]]]:
    """On a worker: one partition's term counts and its ``size`` documents of smallest sample key, as
    (key, id, text)."""
    from hashsearch.text.analysis import Analyzer

    analyzer, counts, keyed = Analyzer(language), TermCounts(), []
    for doc in _documents(partition, fields):
        if doc.text.strip():
            counts.add(analyzer.terms(doc.text))
            keyed.append((_sample_key(seed, doc.id), doc.id, doc.text))
    return counts, heapq.nsmallest(size, keyed)


def _encode_partition(partition: Any, fields: Fields, vocabulary: str, config: str,
                      weights: bytes) -> tuple[list[StoredDocument], list[str]]:
    """On a worker: the rows of one partition's non-empty documents, and the ids of the empty ones."""
    features = TextFeatures.from_json(vocabulary)
    hasher = SemanticHasher.from_bytes(config, weights)
    documents = list(_documents(partition, fields))
    kept = [doc for doc in documents if doc.text.strip()]
    return encode_documents(kept, features, hasher), [doc.id for doc in documents if not doc.text.strip()]


def _encoded(client: Any, partitions: list[Any], fields: Fields, vocabulary: str, config: str,
             weights: bytes) -> Iterator[tuple[list[StoredDocument], list[str]]]:
    """Each partition's rows as the cluster finishes them, with at most ``IN_FLIGHT_PER_WORKER`` per
    worker computed ahead of the caller."""
    import dask
    from distributed import as_completed

    shared = client.scatter([vocabulary, config, weights], broadcast=True)
    tasks = iter([dask.delayed(_encode_partition)(part, fields, *shared) for part in partitions])
    window = max(1, IN_FLIGHT_PER_WORKER * len(client.scheduler_info().get("workers", {})))
    running = as_completed(client.compute([task for _, task in zip(range(window), tasks, strict=False)]))
    for future in running:
        yield future.result()
        following = next(tasks, None)
        if following is not None:
            running.add(client.compute(following))
