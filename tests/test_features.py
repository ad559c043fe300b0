import json
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp

from hashsearch import InvalidParameterError
from hashsearch.text.analysis import Analyzer
from hashsearch.text.features import WEIGHTINGS, TextFeatures

ANALYZER = Analyzer()

TEXTS = ["The rocket launch to the moon", "Moon rocket engines and fuel", "Hockey playoffs tonight",
         "The hockey team won the playoffs", "42 1993 the and of"]


def test_vocabulary_drops_stop_words_numbers_and_keeps_sparse_rows():
    features = TextFeatures()
    X = features.fit_transform(TEXTS)
    assert sp.issparse(X) and X.dtype == np.float32 and X.shape == (5, features.n_features)
    assert "the" not in features.vocabulary_ and "1993" not in features.vocabulary_
    assert {"rocket", "moon", "hockey"} <= set(features.vocabulary_)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1))).ravel()
    assert np.allclose(norms[:4], 1.0) and norms[4] == 0.0  # a text with no known word is an all-zero row


def test_max_features_caps_vocabulary():
    features = TextFeatures(max_features=3)
    features.fit_transform(TEXTS)
    assert features.n_features == 3


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_json_round_trip_transforms_identically(weighting):
    features = TextFeatures(weighting=weighting)
    features.fit_transform(TEXTS)
    restored = TextFeatures.from_json(features.to_json())
    assert restored.weighting == weighting and restored.mean_length_ == features.mean_length_
    new = ["a rocket to the moon moon moon", "unknown words only"]
    assert (features.transform(new) != restored.transform(new)).nnz == 0


def test_version_1_vocabulary_loads_as_tfidf():
    # Indexes saved before the weighting option were built with count * idf; they must encode queries the same way.
    features = TextFeatures(weighting="tfidf")
    features.fit_transform(TEXTS)
    state = json.loads(features.to_json())
    state["format_version"] = 1
    del state["params"]["weighting"], state["mean_length"]
    restored = TextFeatures.from_json(json.dumps(state))
    assert restored.weighting == "tfidf"
    new = ["a rocket to the moon moon moon"]
    assert (features.transform(new) != restored.transform(new)).nnz == 0


def test_weightings_follow_their_formulas():
    texts = ["moon moon moon rocket", "rocket hockey", "hockey playoffs playoffs"] * 20
    by_weighting = {}
    for weighting in WEIGHTINGS:
        features = TextFeatures(max_df=1.0, weighting=weighting)
        X = features.fit_transform(texts)
        by_weighting[weighting] = X[0].toarray().ravel()
    moon, rocket = features.vocabulary_.index("moon"), features.vocabulary_.index("rocket")
    idf = features.idf_
    assert features.mean_length_ == pytest.approx(3.0)  # (4 + 2 + 3) / 3 vocabulary words per text
    bm25_moon = 3 * 2.2 / (3 + 1.2 * (0.25 + 0.75 * 4 / 3))
    bm25_rocket = 1 * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 4 / 3))
    expected = {"tfidf": (3 * idf[moon], idf[rocket]), "log": ((1 + np.log(3)) * idf[moon], idf[rocket]),
                "bm25": (bm25_moon * idf[moon], bm25_rocket * idf[rocket])}
    for weighting, (w_moon, w_rocket) in expected.items():
        row = by_weighting[weighting]
        assert row[moon] / row[rocket] == pytest.approx(w_moon / w_rocket, rel=1e-5), weighting


def test_out_of_vocabulary_share():
    features = TextFeatures()
    features.fit_transform(TEXTS)
    assert features.out_of_vocabulary_share(["rocket moon"]) == 0.0
    assert features.out_of_vocabulary_share(["rocket zebra"]) == 0.5
    # Texts are read until enough terms were counted: the third is never read.
    assert features.out_of_vocabulary_share(["rocket", "zebra", "okapi quagga"], enough_terms=2) == 0.5


def test_bad_parameters_are_named():
    with pytest.raises(InvalidParameterError, match=r"^max_df must be a float in \(0, 1\]\. Got 2 instead\.$"):
        TextFeatures(max_df=2).fit_transform(TEXTS)
    with pytest.raises(InvalidParameterError,
                       match=r"^weighting must be one of bm25, tfidf, log\. Got 'bm52' instead\.$"):
        TextFeatures(weighting="bm52").fit_transform(TEXTS)


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_documents_and_queries_get_identical_vectors(weighting):
    # fit_transform counts in one pass over the whole corpus; transform is the query path. Same rows.
    texts = TEXTS * 20 + ["Rocket, rocket: the MOON's fuel!", "hockey-playoffs 2024 tonight tonight"]
    features = TextFeatures(min_df=1, weighting=weighting)
    X = features.fit_transform(texts)
    assert (features.transform(texts) != X).nnz == 0
    assert features.vocabulary_ == sorted(features.vocabulary_)


def test_max_features_keeps_the_most_frequent_terms():
    features = TextFeatures(max_features=2, min_df=1, max_df=1.0)
    features.fit_transform(["moon moon moon rocket rocket hockey"] * 60)
    assert features.vocabulary_ == ["moon", "rocket"]


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_terms_of_one_text_equal_its_transform_row(weighting):
    features = TextFeatures(weighting=weighting)
    features.fit_transform(TEXTS)
    row = features.transform(["The moon rocket and the hockey rocket"])
    columns, weights = features.terms(ANALYZER.terms("The moon rocket and the hockey rocket"))
    assert columns.tolist() == row.indices.tolist() and np.array_equal(weights, row.data)
    columns, weights = features.terms(ANALYZER.terms("nothing known here"))
    assert len(columns) == 0 and len(weights) == 0


def test_words_are_counted_as_the_analysis_defines_them():
    """The vocabulary holds the analysed terms of letters only (numbers, runs with digits and stop words
    never become words; letters of any script do), and rows count those terms."""
    texts = ["abc123 abc x_y été Straße ½x 3rd o'neil", "abc été straße neil abc123 x_y 3rd",
             "ABC Été x2 x_y 1993 the"]
    features = TextFeatures(weighting="tfidf", min_df=1)
    X = features.fit_transform(texts)
    terms = [[t.decode() for t in ANALYZER.terms(text)] for text in texts]
    words = {t for row in terms for t in row if ANALYZER.is_vocabulary_term(t)}
    assert set(features.vocabulary_) == words
    assert {"ete", "strass", "abc"} <= words
    assert {"abc123", "3rd", "x2", "the", "1993"}.isdisjoint(features.vocabulary_)
    for row, text_terms in enumerate(terms):
        counts = Counter(term for term in text_terms if term in words)
        expected = {features.vocabulary_.index(word): n * features.idf_[features.vocabulary_.index(word)]
                    for word, n in counts.items()}
        got = dict(zip(X[row].indices.tolist(), X[row].data.tolist(), strict=False))
        norm = np.sqrt(sum(v * v for v in expected.values()))
        assert got.keys() == expected.keys()
        assert np.allclose([got[c] for c in expected], [v / norm for v in expected.values()])


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_ascii_and_unicode_texts_are_counted_alike(weighting):
    """ASCII texts take a faster path; a non-word character that is not ASCII sends the same text down
    the general one, and both must give the same row."""
    texts = ["Rocket_fuel ROCKET moon2 moon, moon... (hockey)-playoffs 42nd", "été rocket été fuel"] + TEXTS
    features = TextFeatures(weighting=weighting, min_df=1)
    features.fit_transform(texts)
    for text in texts[:1] + TEXTS:
        ascii_row, unicode_row = features.transform([text, text + " \N{SNOWMAN}"])
        assert ascii_row.indices.tolist() == unicode_row.indices.tolist()
        assert np.array_equal(ascii_row.data, unicode_row.data)
    assert features.transform(["Rocket_fuel ROCKET moon2"]).nnz == 2  # rocket and fuel: moon2 is one token
