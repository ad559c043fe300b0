import math
from collections import Counter

import numpy as np
import pytest

from hashsearch.index import postings
from hashsearch.index.words import WordIndex, encode_words, query_hashes, word_hashes
from hashsearch.text.analysis import Analyzer
from hashsearch.text.features import BM25_B, BM25_K1

ANALYZER = Analyzer()


def known(index, text):
    """Positions of the text's words in the index."""
    return index.positions(query_hashes(ANALYZER.terms(text)))

TEXTS = ["The rocket launch was delayed; the rocket engines failed.", "A hockey game: the 1993 playoffs begin.",
         "Rocket science and hockey", "Encryption keys, encryption chips and the Clipper chip",
         "nothing but stop words: the and of"]


def bm25_reference(texts, query):
    """Okapi BM25 over the texts' terms, each distinct query term once."""
    docs = [Counter(ANALYZER.terms(text)) for text in texts]
    mean_length = sum(sum(d.values()) for d in docs) / len(docs)
    words = set(ANALYZER.terms(query))
    scores = []
    for doc in docs:
        score = 0.0
        for word in words:
            df = sum(word in d for d in docs)
            if word in doc:
                idf = math.log1p((len(docs) - df + 0.5) / (df + 0.5))
                count, length = doc[word], sum(doc.values())
                score += idf * count * (BM25_K1 + 1) / (count + BM25_K1 * (1 - BM25_B + BM25_B * length / mean_length))
        scores.append(score)
    return np.array(scores)


@pytest.mark.parametrize("query", ["rocket", "rocket hockey", "encryption chip clipper", "1993", "the and of",
                                   "unknown zqxv"])
def test_scores_are_bm25_within_the_byte_precision_of_impacts(query):
    index = WordIndex([encode_words(ANALYZER.terms(t)) for t in TEXTS], np.arange(len(TEXTS)))
    rows, scores = index.scores(known(index, query))
    order = np.argsort(rows)
    rows, scores = rows[order], scores[order]
    expected = bm25_reference(TEXTS, query)
    assert list(rows) == list(np.flatnonzero(expected > 0))
    assert scores == pytest.approx(expected[rows], rel=0.01)


def test_rows_follow_the_given_numbering():
    index = WordIndex([encode_words(ANALYZER.terms(t)) for t in TEXTS], np.array([4, 3, 2, 1, 0]))
    rows, _ = index.scores(known(index, "hockey"))
    assert sorted(rows) == [2, 3]  # texts 2 and 1


def test_pruned_lists_keep_each_words_strongest_documents():
    texts = ["rocket " * n + "filler words here" for n in range(1, 8)]
    index = WordIndex([encode_words(ANALYZER.terms(t)) for t in texts], np.arange(len(texts)), postings_per_word=3)
    rows, _ = index.scores(known(index, "rocket"))
    assert sorted(rows) == [4, 5, 6]  # the three with the most repetitions
    assert sorted(index.scores(known(index, "filler"))[0]) == [0, 1, 2]  # shorter documents weigh it more


def test_encoded_words_round_trip_their_counts():
    blob = encode_words(ANALYZER.terms("Rocket rocket ROCKET launch, the launch"))
    counts = word_hashes(Counter(ANALYZER.terms("rocket launch rocket rocket launch the")))
    assert len(blob) == 5 * len(counts)
    hashes = np.frombuffer(blob[:4 * len(counts)], dtype="<u4")
    assert [int(c) for c in blob[4 * len(counts):]] == [counts[int(h)] for h in hashes]


def test_an_empty_index_answers_nothing():
    index = WordIndex([], np.arange(0))
    rows, scores = index.scores(known(index, "rocket"))
    assert len(rows) == len(scores) == 0


def test_rarest_keeps_the_highest_idf_words():
    index = WordIndex([encode_words(ANALYZER.terms(t)) for t in TEXTS], np.arange(len(TEXTS)))
    words = known(index, "rocket hockey encryption clipper")
    kept = words[index.rarest(words, 1)]
    assert len(kept) == 1 and index.idf(kept)[0] == index.idf(words).max()


def test_scores_equal_a_loop_over_the_words_bit_for_bit():
    """Many documents sharing words (rows in several lists), query counts and a filter: each row's score
    is the float32 sum of its postings in the words' order, as a loop over the lists adds them."""
    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}".encode() for i in range(40)]
    blobs = [encode_words(list(rng.choice(vocabulary, size=rng.integers(1, 30)))) for _ in range(300)]
    index = WordIndex(blobs, np.arange(300), postings_per_word=50)
    words = np.arange(len(index.words_))[::2]
    counts = rng.integers(1, 4, len(words)).astype(np.float32)
    allowed = rng.random(300) < 0.7
    for mask in (None, allowed):
        expected = np.zeros(300, dtype=np.float32)
        touched = np.zeros(300, dtype=bool)
        scales = index.idf(words) * np.float32((BM25_K1 + 1) / postings.IMPACT_LEVELS) * counts
        for word, scale in zip(words, scales, strict=True):
            span = slice(index._starts[word], index._starts[word + 1])
            rows, impacts = index._rows[span], index._impacts[span]
            if mask is not None:
                rows, impacts = rows[mask[rows]], impacts[mask[rows]]
            expected[rows] += impacts * scale
            touched[rows] = True
        rows, scores = index.scores(words, allowed=mask, counts=counts)
        assert len(rows) == len(set(rows.tolist())) and sorted(rows.tolist()) == np.flatnonzero(touched).tolist()
        assert np.array_equal(scores, expected[rows])
    assert not index._scratch().any()  # left all zero for the next query


def test_rows_put_first_and_filters_join_the_candidates_once():
    index = WordIndex([encode_words(ANALYZER.terms(t)) for t in TEXTS], np.arange(len(TEXTS)))
    rows, scores = index.scores(known(index, "rocket hockey"))
    score_of = dict(zip(rows.tolist(), scores.tolist(), strict=False))
    first, first_scores = index.put_first(rows, scores, np.array([4, 2]))
    assert first.tolist()[:2] == [4, 2] and sorted(first) == [0, 1, 2, 4]
    assert dict(zip(first.tolist(), first_scores.tolist(), strict=False)) == {**score_of, 4: 0.0}
    allowed = np.array([False, True, True, True, True])
    rows, scores = index.scores(known(index, "rocket hockey"), allowed=allowed)
    assert sorted(index.put_first(rows, scores, np.array([4]))[0]) == [1, 2, 4]
    again, _ = index.scores(known(index, "rocket"))  # the scratch arrays were left clean
    assert sorted(again) == [0, 2]


def test_chunked_and_unpacked_builds_match_the_packed_one(monkeypatch):
    """Small chunks, and the lexsort path of indexes too large for packed sort keys, build the same lists."""
    texts = TEXTS + ["", "rocket hockey rocket"] * 3
    rows = np.random.default_rng(0).permutation(len(texts))
    reference = WordIndex([encode_words(ANALYZER.terms(t)) for t in texts], rows, postings_per_word=2)
    monkeypatch.setattr(postings, "_CHUNK", 3)
    for packed_rows in (2**24, 4):
        monkeypatch.setattr(postings, "PACKED_ROWS", packed_rows)
        index = WordIndex([encode_words(ANALYZER.terms(t)) for t in texts], rows, postings_per_word=2)
        for name in ("words_", "df_", "_starts", "_rows", "_impacts"):
            assert np.array_equal(getattr(index, name), getattr(reference, name)), name
