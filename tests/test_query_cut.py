"""A query reads the ``QUERY_POSTINGS`` postings that add most to a score over all its words' lists
(ties with the last of them too): checked against brute force over whole lists, and the same however
the index is split into segments or shards."""
import zlib
from types import SimpleNamespace

import numpy as np
import pytest

from hashsearch.index import ranking
from hashsearch.index.words import WordIndex, encode_words, nth_largest


def corpus(seed=0, n=300):
    """Documents of varied lengths over 40 words, and 60 identical ones (a long tie in the lists of their
    words, one of which, "tie", only they hold)."""
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{i}".encode() for i in range(40)]
    blobs = [encode_words(list(rng.choice(vocabulary, size=rng.integers(1, 30)))) for _ in range(n)]
    return blobs + [encode_words([b"w1", b"tie", b"w2"])] * 60


def added_by(index, words, scales, allowed=None):
    """What each posting of each word (of those ``allowed`` keeps) adds to a score, word by word."""
    found = []
    for word, scale in zip(words, scales, strict=True):
        span = slice(index._starts[word], index._starts[word + 1])
        impacts = index._impacts[span]
        if allowed is not None:
            impacts = impacts[allowed[index._rows[span]]]
        found.append(impacts * np.float32(scale))
    return found


def brute_reads(index, words, scales, budget, allowed=None):
    """Each word's postings adding at least the budget-th most of all of them, by sorting them all."""
    found = added_by(index, words, scales, allowed)
    everything = np.sort(np.concatenate(found))
    if len(everything) <= budget:
        return None
    floor = everything[-budget]
    return [int((added >= floor).sum()) for added in found]


@pytest.fixture(scope="module")
def index():
    blobs = corpus()
    return WordIndex(blobs, np.arange(len(blobs)), postings_per_word=1000)


@pytest.mark.parametrize("budget", [1, 5, 50, 200, 1000, 100_000])
def test_reads_are_the_strongest_postings_over_all_the_words(index, budget):
    words = np.arange(len(index.words_))
    counts = np.random.default_rng(budget).integers(1, 4, len(words)).astype(np.float32)
    scales = index.scales(words, counts)
    expected = brute_reads(index, words, scales, budget)
    reads = index.reads(words, scales, budget)
    assert (reads if reads is None else reads.tolist()) == expected
    if expected is not None:
        assert sum(expected) >= budget  # ties with the floor are read too
    assert_same_scores(index.scores(words, counts=counts, budget=budget),
                       index.scores(words, counts=counts, reads=None if expected is None else np.array(expected)))


@pytest.mark.parametrize("budget", [1, 5, 50, 200, 1000, 100_000])
def test_a_filtered_budget_counts_the_allowed_postings(index, budget):
    words = np.arange(len(index.words_))
    allowed = np.random.default_rng(budget + 1).random(index.n_documents) < 0.4
    expected = brute_reads(index, words, index.scales(words), budget, allowed)
    got = index.scores(words, allowed=allowed, budget=budget)
    assert_same_scores(got, index.scores(words, allowed=allowed,
                                         reads=None if expected is None else np.array(expected)))
    assert allowed[got[0]].all()


def assert_same_scores(got, want):
    assert dict(zip(*(column.tolist() for column in got), strict=True)) == \
        dict(zip(*(column.tolist() for column in want), strict=True))


def test_a_long_tie_past_the_budget_is_read_whole(index):
    tie = index.positions(np.array([zlib.crc32(b"tie")], dtype=np.uint32))
    scales = index.scales(tie)
    assert index.reads(tie, scales, 5).tolist() == [60]
    assert index.reads(tie, scales, 60) is None
    assert index.reads(tie, scales, 59).tolist() == [60]  # one more than the budget gathered, all tied
    everything = np.ones(index.n_documents, dtype=bool)
    assert len(index.scores(tie, allowed=everything, budget=5)[0]) == 60


@pytest.mark.parametrize("n", [1, 7, 100, 999, 1000])
def test_nth_largest_is_that_of_a_sort(n):
    rng = np.random.default_rng(n)
    for values in (rng.random(1000).astype(np.float32), np.sort(rng.random(1000)).astype(np.float32),
                   rng.integers(0, 5, 1000).astype(np.float32)):  # uniform, ascending (the sample's bar too
        assert nth_largest(values, n) == np.sort(values)[-n]  # high at first), and many ties


@pytest.mark.parametrize("budget", [3, 40, 400, 100_000])
def test_reaching_counts_the_allowed_postings_at_a_floor(index, budget):
    words = np.arange(len(index.words_))
    scales = index.scales(words)
    allowed = np.random.default_rng(1).random(index.n_documents) < 0.5
    found = added_by(index, words, scales, allowed)
    everything = np.sort(np.concatenate(found))
    floor = everything[-min(budget, len(everything))]
    assert index.reaching(words, scales, floor, allowed).tolist() == [int((a >= floor).sum()) for a in found]
    assert np.array_equal(np.concatenate([index.contributions(words[:5], scales[:5], budget, allowed)]),
                          np.concatenate([a[:budget] for a in found[:5]]))


@pytest.mark.parametrize("budget", [2, 30, 300, 100_000])
def test_a_split_index_reads_the_postings_the_whole_one_reads(budget):
    blobs = corpus(seed=2)
    whole = WordIndex(blobs, np.arange(len(blobs)), postings_per_word=1000)
    rows = np.arange(len(blobs))
    splits = [rows[rows % 3 == s] for s in range(3)]
    shards = [whole.shard(split) for split in splits]
    words = np.arange(len(whole.words_))
    scales = whole.scales(words)
    whole_reads = whole.reads(words, scales, budget)
    added = np.concatenate([shard.contributions(words, shard.scales(words), budget) for shard in shards])
    if whole_reads is None:
        assert len(added) <= budget
        reads = [None] * len(shards)
    else:
        floor = nth_largest(added, budget)
        reads = [shard.reaching(words, shard.scales(words), floor) for shard in shards]
        assert np.sum(reads, axis=0).tolist() == whole_reads.tolist()
    rows, scores = whole.scores(words, reads=whole_reads)
    expected = dict(zip(rows.tolist(), scores.tolist(), strict=True))
    merged = {}
    for split, shard, shard_reads in zip(splits, shards, reads, strict=True):
        shard_rows, shard_scores = shard.scores(words, reads=shard_reads)
        merged.update(zip(split[shard_rows].tolist(), shard_scores.tolist(), strict=True))
    assert merged.keys() == expected.keys()
    np.testing.assert_allclose([merged[row] for row in expected], list(expected.values()), rtol=1e-6)


def test_a_word_all_of_whose_postings_one_shard_holds_is_cut_as_in_the_whole_index(monkeypatch):
    """One shard holds every posting of the word: it reads what the whole index reads, not the whole list
    (its budget's worth gathered alone would look like every posting there is)."""
    blobs = corpus(seed=3)
    whole = WordIndex(blobs, np.arange(len(blobs)), postings_per_word=1000)
    rows = np.arange(len(blobs))
    shards = [whole.shard(rows[rows < 300]), whole.shard(rows[rows >= 300])]  # the 60 copies lack w5
    word = whole.positions(np.array([zlib.crc32(b"w5")], dtype=np.uint32))
    monkeypatch.setattr(ranking, "QUERY_POSTINGS", 20)
    expected = whole.reads(word, whole.scales(word), 20)
    assert expected is not None and expected[0] < whole._starts[word[0] + 1] - whole._starts[word[0]]
    parts = [SimpleNamespace(segment=SimpleNamespace(words=shard), allowed=None) for shard in shards]
    reads = ranking._reads(parts, [(word, None, None)] * 2)
    assert [r.tolist() for r in reads] == [expected.tolist(), [0]]
