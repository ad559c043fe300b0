"""A build on a local Dask cluster of two worker processes equals a single-process build of the same
documents: the same codes, word counts and hits with the same model, and the same vocabulary and model
when it learns them itself. Slow tier: a cluster takes seconds to start."""
import dask.dataframe as dd
import distributed
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hashsearch import Searcher
from hashsearch.api.distributed import build_on_dask, read_model
from hashsearch.errors import InvalidParameterError
from hashsearch.store.storage import Storage
from tests.conftest import FAST

pytestmark = pytest.mark.slow
QUERIES = ["space shuttle launch", "car engine brakes", "hockey playoffs", "image file formats", "god"]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, distributed.Client(cluster) as connected:
        yield connected


@pytest.fixture(scope="module")
def lake(tmp_path_factory, sample_docs):
    """The sample as four Parquet files of 100 rows (four partitions)."""
    folder = tmp_path_factory.mktemp("lake")
    for part in range(4):
        rows = sample_docs[part * 100:(part + 1) * 100]
        pq.write_table(pa.Table.from_pylist(rows), folder / f"part-{part}.parquet")
    return folder


def stored(db):
    """id -> (code, word counts, metadata) of every stored document (PostgreSQL returns rows in the
    order they were written: the cluster's partitions in the order they finished)."""
    storage = Storage.open(db)
    try:
        rows = storage.read_lookup()
    finally:
        storage.close()
    codes = rows.codes.reshape(len(rows.ids), -1)
    return {doc_id: (codes[i].tobytes(), rows.words[i], rows.metadata[i]) for i, doc_id in enumerate(rows.ids)}


def assert_same_index(single_db, cluster_db):
    assert stored(single_db) == stored(cluster_db)
    with Searcher.open(single_db) as single, Searcher.open(cluster_db) as built:
        for query in QUERIES:
            assert [(h.id, h.score) for h in single.search(query, k=10)] == \
                [(h.id, h.score) for h in built.search(query, k=10)]


def test_partitions_encoded_on_two_workers_equal_a_single_process_build_with_the_same_model(
        client, lake, sample_docs, new_db):
    single_db, cluster_db = new_db(), new_db()
    Searcher.build(sample_docs, single_db, bits=32, **FAST).close()
    frame = dd.read_parquet(str(lake))
    assert frame.npartitions == 4
    report = build_on_dask(frame, cluster_db, client=client, model_from=single_db)
    assert report.added == len(sample_docs)
    assert len(client.scheduler_info()["workers"]) == 2
    assert_same_index(single_db, cluster_db)


def test_a_cluster_learns_the_vocabulary_and_model_a_single_process_learns(client, lake, sample_docs, tmp_path):
    single_db, cluster_db = tmp_path / "single.db", tmp_path / "cluster.db"
    Searcher.build(sample_docs, single_db, bits=32, **FAST).close()
    build_on_dask(dd.read_parquet(str(lake)), cluster_db, client=client, bits=32, **FAST)
    (features, _, _), (features_c, _, facts) = read_model(single_db), read_model(cluster_db)
    assert features_c.vocabulary_ == features.vocabulary_  # exact counts, summed over the partitions
    np.testing.assert_array_equal(features_c.idf_, features.idf_)
    assert facts["training_documents"] == len(sample_docs)  # the whole sample: a corpus under the cap
    assert_same_index(single_db, cluster_db)  # sample in id order, as the single process read it


def test_options_beside_a_model_are_refused(client, lake, tmp_path, sample_docs):
    Searcher.build(sample_docs[:100], tmp_path / "model.db", bits=32, **FAST).close()
    with pytest.raises(InvalidParameterError, match="epochs"):
        build_on_dask(dd.read_parquet(str(lake)), tmp_path / "x.db", client=client, model_from=tmp_path / "model.db",
                      epochs=3)
