import numpy as np
import pytest
import scipy.sparse as sp

from hashsearch import InvalidParameterError
from hashsearch.features import TextFeatures

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


def test_json_round_trip_transforms_identically():
    features = TextFeatures()
    features.fit_transform(TEXTS)
    restored = TextFeatures.from_json(features.to_json())
    new = ["a rocket to the moon", "unknown words only"]
    assert (features.transform(new) != restored.transform(new)).nnz == 0


def test_out_of_vocabulary_share():
    features = TextFeatures()
    features.fit_transform(TEXTS)
    assert features.out_of_vocabulary_share(["rocket moon"]) == 0.0
    assert features.out_of_vocabulary_share(["rocket zebra"]) == 0.5


def test_bad_parameters_are_named():
    with pytest.raises(InvalidParameterError, match=r"^max_df must be a float in \(0, 1\]\. Got 2 instead\.$"):
        TextFeatures(max_df=2).fit_transform(TEXTS)


def test_documents_and_queries_get_identical_vectors():
    # fit_transform counts in one pass over the whole corpus; transform is the query path. Same rows.
    texts = TEXTS * 20 + ["Rocket, rocket: the MOON's fuel!", "hockey-playoffs 2024 tonight tonight"]
    features = TextFeatures(min_df=1)
    X = features.fit_transform(texts)
    assert (X != features.transform(texts)).nnz == 0
    assert features.vocabulary_ == sorted(features.vocabulary_)


def test_max_features_keeps_the_most_frequent_terms():
    features = TextFeatures(max_features=2, min_df=1, max_df=1.0)
    features.fit_transform(["moon moon moon rocket rocket hockey"] * 60)
    assert features.vocabulary_ == ["moon", "rocket"]


def test_terms_of_one_text_equal_its_transform_row():
    features = TextFeatures()
    features.fit_transform(TEXTS)
    row = features.transform(["The moon rocket and the hockey rocket"])
    columns, weights = features.terms("The moon rocket and the hockey rocket")
    assert columns.tolist() == row.indices.tolist() and np.array_equal(weights, row.data)
    columns, weights = features.terms("nothing known here")
    assert len(columns) == 0 and len(weights) == 0
