"""A query reads each word's strongest postings down to a floor (``QUERY_POSTINGS`` shared evenly by its
words): checked against brute force over whole lists, ties included, and the same however the index is
split into segments or shards."""
import zlib

import numpy as np
import pytest

from hashsearch.index.words import WordIndex, cut_floors, encode_words


def corpus(seed=0, n=300):
    """Documents of varied lengths over 40 words, and 60 identical ones (one long tie in each of their
    words' lists)."""
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{i}".encode() for i in range(40)]
    blobs = [encode_words(list(rng.choice(vocabulary, size=rng.integers(1, 30)))) for _ in range(n)]
    return blobs + [encode_words([b"w1", b"tie", b"w2"])] * 60


def brute_reads(index, words, per_word, allowed=None):
    """How many postings of each word reach the impact of its per_word-th strongest (all of a shorter list)."""
    reads = []
    for word in words:
        span = slice(index._starts[word], index._starts[word + 1])
        impacts = index._impacts[span]
        if allowed is not None:
            impacts = impacts[allowed[index._rows[span]]]
        reads.append(len(impacts) if len(impacts) <= per_word else int((impacts >= impacts[per_word - 1]).sum()))
    return reads


@pytest.mark.parametrize("per_word", [1, 3, 10, 40, 100, 10_000])
def test_cut_reads_each_list_down_to_its_floor_ties_included(per_word):
    blobs = corpus()
    index = WordIndex(blobs, np.arange(len(blobs)), postings_per_word=1000)
    words = np.arange(len(index.words_))
    assert index.cut(words, per_word).tolist() == brute_reads(index, words, per_word)
    floors = cut_floors([[impacts] for impacts in index.strongest(words, per_word)], per_word)
    assert index.reaching(words, floors).tolist() == brute_reads(index, words, per_word)
    allowed = np.random.default_rng(1).random(len(blobs)) < 0.5
    floors = cut_floors([[impacts] for impacts in index.strongest(words, per_word, allowed=allowed)], per_word)
    assert index.reaching(words, floors, allowed).tolist() == brute_reads(index, words, per_word, allowed)


def test_a_long_tie_at_the_floor_is_read_whole():
    """A tie longer than the postings ``cut`` looks past a share for at once is searched to its end."""
    blobs = corpus()
    index = WordIndex(blobs, np.arange(len(blobs)), postings_per_word=1000)
    tie = index.positions(np.array([zlib.crc32(b"tie")], dtype=np.uint32))
    assert index.cut(tie, 5).tolist() == [60]
    assert index.cut(tie, 60).tolist() == [60] and index.cut(tie, 1000).tolist() == [60]


@pytest.mark.parametrize("per_word", [2, 8, 25, 10_000])
def test_a_split_index_reads_the_postings_the_whole_one_reads(per_word):
    blobs = corpus(seed=2)
    whole = WordIndex(blobs, np.arange(len(blobs)), postings_per_word=1000)
    rows = np.arange(len(blobs))
    splits = [rows[rows % 3 == s] for s in range(3)]
    shards = [whole.shard(split) for split in splits]
    words = np.arange(len(whole.words_))
    floors = cut_floors([list(found) for found in zip(*(shard.strongest(words, per_word) for shard in shards),
                                                       strict=True)], per_word)
    reads = [shard.reaching(words, floors) for shard in shards]
    assert np.sum(reads, axis=0).tolist() == whole.cut(words, per_word).tolist()
    rows, scores = whole.scores(words, reads=whole.cut(words, per_word))
    expected = dict(zip(rows.tolist(), scores.tolist(), strict=True))
    merged = {}
    for split, shard, shard_reads in zip(splits, shards, reads, strict=True):
        shard_rows, shard_scores = shard.scores(words, reads=shard_reads)
        merged.update(zip(split[shard_rows].tolist(), shard_scores.tolist(), strict=True))
    assert merged.keys() == expected.keys()
    np.testing.assert_allclose([merged[row] for row in expected], list(expected.values()), rtol=1e-6)
