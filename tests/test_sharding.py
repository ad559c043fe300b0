"""An index split by id hash into shards that keep its word statistics answers every query with the
same hits and scores as the whole index, once the shards' answers are merged (the ranking's parts are
its shards): the sharding plan of the README's "Several machines", checked on the sample."""
import numpy as np
import pytest

from hashsearch import Searcher
from hashsearch.api.querying import encoded_query
from hashsearch.index import ranking
from hashsearch.index.filters import MetadataColumns
from hashsearch.index.parts import Part
from tests.conftest import FAST

SHARDS = 4


@pytest.fixture(scope="module")
def index(tmp_path_factory, sample_docs):
    db = tmp_path_factory.mktemp("shards") / "index.db"
    docs = [{**d, "year": 1990 + i % 7} for i, d in enumerate(sample_docs)]
    with Searcher.build(docs, db, bits=32, **FAST) as searcher:
        snapshot = searcher._snapshot
        main = snapshot.main
        shards = [main.shard(np.flatnonzero(main.keys % SHARDS == s)) for s in range(SHARDS)]
        yield snapshot, main, shards, docs


def queries(docs):
    posts = [d["text"] for d in docs[::40]]
    subjects = [next((line[9:] for line in p.splitlines() if line.startswith("Subject: ")), p[:40]) for p in posts]
    return ["space", "car engine oil", "hockey playoffs goalie", "the"] + subjects + posts


@pytest.mark.parametrize(("mode", "query_postings"), [("hybrid", None), ("hybrid", 64), ("hamming", None)])
def test_merged_shards_answer_as_the_whole_index(index, mode, query_postings, monkeypatch):
    """``query_postings`` 64: each word's share is a few postings, so that the shards must agree on
    where each word's list is cut."""
    if query_postings is not None:
        monkeypatch.setattr(ranking, "QUERY_POSTINGS", query_postings)
    snapshot, main, shards, docs = index
    assert sum(len(s) for s in shards) == len(main) and all(len(s) for s in shards)
    for text in queries(docs):
        query = encoded_query(snapshot, text, mode)
        for k in (1, 10, 50):
            radius, page = ranking.checked_page(32, k, None, mode, 0, None)
            whole = ranking.rank([Part(main)], query, radius, page)
            merged = ranking.rank([Part(shard) for shard in shards], query, radius, page)
            assert list(merged[0]) == list(whole[0]), (text[:60], k)
            np.testing.assert_array_equal(merged[1], whole[1])
            if whole[2] is not None:
                np.testing.assert_allclose(merged[2], whole[2], rtol=1e-6)


def test_a_shard_keeps_the_word_statistics_and_the_postings_of_its_documents(index):
    _, main, shards, _ = index
    for shard in shards:
        assert shard.words.corpus_size_ == main.words.corpus_size_
        assert shard.words.mean_length_ == main.words.mean_length_
        np.testing.assert_array_equal(shard.words.df_, main.words.df_)
    # Each word's postings are split among the shards, none lost or doubled.
    total = sum(len(shard.words.arrays()["rows"]) for shard in shards)
    assert total == len(main.words.arrays()["rows"])


def test_a_subset_of_the_filter_columns_counts_as_a_brute_force_count(index):
    _, main, shards, docs = index
    year_of = {d["id"]: d["year"] for d in docs}
    for shard in shards:
        expected = {}
        for doc_id in shard.ids:
            expected[year_of[doc_id]] = expected.get(year_of[doc_id], 0) + 1
        assert shard.columns.value_counts("year") == expected
        mask = shard.columns.mask({"year": {"$gte": 1994}}, shard.columns.fields)
        assert sorted(shard.ids[mask]) == sorted(i for i in shard.ids if year_of[i] >= 1994)


def test_subset_keeps_list_fields():
    columns = MetadataColumns([{"tags": ["a", "b"]}, {"tags": ["b"]}, {"n": 3}, {"tags": ["c"], "n": 1}])
    part = columns.subset(np.array([1, 3]))
    assert part.value_counts("tags") == {"b": 1, "c": 1}
    assert part.value_counts("n") == {1: 1}
