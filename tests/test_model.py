import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from hashsearch import InvalidParameterError, SemanticHasher
from hashsearch.index import codes as codelib
from hashsearch.model import training
from hashsearch.model.training import binarize, default_epochs, nearest_neighbours
from hashsearch.text.features import TextFeatures


@pytest.fixture(scope="module")
def sample_matrix(sample_docs):
    X = TextFeatures().fit_transform([d["text"] for d in sample_docs])
    topics = np.array([d["topic"] for d in sample_docs])
    return X, topics


def precision_at_10(codes, topics):
    """Share of each document's 10 nearest codes (itself excluded, ties by row) that share its topic."""
    hits = []
    for i, code in enumerate(codes):
        distances = codelib.hamming(code, codes)
        distances[i] = 10**6
        nearest = np.lexsort((np.arange(len(codes)), distances))[:10]
        hits.append(np.mean(topics[nearest] == topics[i]))
    return float(np.mean(hits))


def test_fit_encode_shapes(sample_matrix):
    X, _ = sample_matrix
    hasher = SemanticHasher(bits=16, epochs=1, hidden=32)
    assert hasher.fit(X) is hasher
    codes = hasher.encode(X)
    assert codes.dtype == np.uint8 and codes.shape == (X.shape[0], 2)
    assert len(hasher.history_) == 1 and isinstance(hasher.history_[0], float)
    assert (hasher.thresholds_ == 0.5).all()


def test_balance_bits_thresholds_each_bit_at_its_median(sample_matrix):
    X, _ = sample_matrix
    hasher = SemanticHasher(bits=16, epochs=1, hidden=32, balance_bits=True).fit(X)
    on_share = codelib.unpack(hasher.encode(X)).mean(axis=0)
    assert ((on_share > 0.4) & (on_share < 0.6)).all()
    assert np.array_equal(SemanticHasher.from_bytes(*hasher.to_bytes()).thresholds_, hasher.thresholds_)


@pytest.mark.slow
def test_trained_codes_separate_topics_better_than_random_codes(sample_matrix):
    X, topics = sample_matrix
    learned = SemanticHasher(bits=32, seed=0).fit(X).encode(X)
    random_codes = np.random.default_rng(0).integers(0, 256, learned.shape, dtype=np.uint8)
    learned_precision, random_precision = precision_at_10(learned, topics), precision_at_10(random_codes, topics)
    assert random_precision < 0.25  # 8 balanced topics: chance is 1/8
    assert learned_precision > random_precision + 0.3


def test_same_seed_same_codes_other_seed_other_codes(sample_matrix):
    X, _ = sample_matrix
    options = {"bits": 32, "epochs": 2, "hidden": 64}
    first = SemanticHasher(seed=3, **options).fit(X).encode(X)
    again = SemanticHasher(seed=3, **options).fit(X).encode(X)
    other = SemanticHasher(seed=4, **options).fit(X).encode(X)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("variant", ["bernoulli", "variational", "noise", "denoising"])
def test_every_variant_trains_and_round_trips(sample_matrix, variant):
    X, _ = sample_matrix
    hasher = SemanticHasher(bits=16, epochs=1, hidden=32, variant=variant).fit(X)
    restored = SemanticHasher.from_bytes(*hasher.to_bytes())
    assert restored.get_params() == hasher.get_params()
    assert np.array_equal(restored.encode(X), hasher.encode(X))
    assert np.array_equal(restored.thresholds_, hasher.thresholds_)


def test_encode_rejects_wrong_width(sample_matrix):
    X, _ = sample_matrix
    hasher = SemanticHasher(bits=16, epochs=1, hidden=32).fit(X)
    with pytest.raises(InvalidParameterError, match=rf"X must have {X.shape[1]} columns"):
        hasher.encode(X[:, :10])


@pytest.mark.parametrize("params,message", [
    ({"bits": 30}, r"^bits must be one of 16, 32, 64, 128\. Got 30 instead\.$"),
    ({"epochs": 0}, r"^epochs must be an int >= 1\. Got 0 instead\.$"),
    ({"variant": "vae"},
     r"^variant must be one of bernoulli, variational, noise, denoising\. Got 'vae' instead\.$"),
    ({"learning_rate": -1.0}, r"^learning_rate must be a float > 0\. Got -1\.0 instead\.$"),
])
def test_bad_parameters_are_named(sample_matrix, params, message):
    with pytest.raises(InvalidParameterError, match=message):
        SemanticHasher(**params).fit(sample_matrix[0])


def test_nearest_neighbours_start_with_self_and_match_brute_force(sample_matrix):
    X, _ = sample_matrix
    neighbours, similarities = nearest_neighbours(X[:60], 5)
    assert (neighbours[:, 0] == np.arange(60)).all()
    assert (similarities[:, 0] == 1).all()
    similarity = (X[:60] @ X[:60].T).toarray()
    np.fill_diagonal(similarity, -1)
    for i in range(60):
        assert np.isclose(similarity[i, neighbours[i, 1]], similarity[i].max())
        assert np.allclose(similarities[i, 1:], similarity[i, neighbours[i, 1:]], atol=1e-6)


def test_nearest_neighbours_are_the_same_for_any_number_of_workers(sample_matrix, monkeypatch):
    """Chunks (a few rows each, forced by a small cell budget) in 1, 2 or 3 threads: the same answer."""
    import hashsearch.model.training as training

    X, _ = sample_matrix
    monkeypatch.setattr(training, "_SIMILARITY_CELLS", 7 * X.shape[0])
    answers = [nearest_neighbours(X, 8, workers=workers) for workers in (1, 2, 3)]
    for neighbours, similarities in answers[1:]:
        assert np.array_equal(neighbours, answers[0][0]) and np.array_equal(similarities, answers[0][1])


def test_default_epochs_scale_with_corpus_size():
    assert default_epochs(300, 64) == 60
    assert default_epochs(100_000, 64) == 5
    assert 5 < default_epochs(11_314, 64) < 60


def test_codes_are_settled_when_few_bits_change_over_the_window():
    rng = np.random.default_rng(0)
    still = [np.zeros((100, 64), dtype=bool)] * (training.PLATEAU_WINDOW + 1)
    assert training.settled(still) and not training.settled(still[1:])  # a window of changes needs one more
    moving = [rng.random((100, 64)) < 0.5 for _ in range(training.PLATEAU_WINDOW + 1)]  # half the bits flip
    assert not training.settled(moving)
    assert not training.settled(still[:-1] + [~still[0]])  # every bit flipped once: a mean of 1/5 over the window


@pytest.mark.parametrize(("flips", "stops_at"), [(1.0, training.PLATEAU_WINDOW + 1), (-1.0, None)])
def test_training_stops_when_the_loss_and_the_codes_have_flattened(sample_matrix, monkeypatch, flips, stops_at):
    """The loss taken as flat from the start: training stops as soon as the codes also count as settled
    (a window of epochs after the first), and never while they do not (the default count)."""
    X, _ = sample_matrix
    monkeypatch.setattr(training, "plateaued", lambda history: True)
    monkeypatch.setattr(training, "SETTLED_FLIPS", flips)
    hasher = SemanticHasher(bits=16, hidden=32, max_train_documents=100).fit(X)
    assert len(hasher.history_) == (stops_at or default_epochs(100, hasher.batch_size))


def test_training_sample_is_capped_and_seeded(sample_matrix):
    X, _ = sample_matrix
    options = {"bits": 16, "epochs": 1, "hidden": 32, "max_train_documents": 100}
    first = SemanticHasher(**options).fit(X)
    assert sum(first.history_) > 0 and first.encode(X).shape == (X.shape[0], 2)
    assert np.array_equal(first.encode(X), SemanticHasher(**options).fit(X).encode(X))
    # A different sample (another seed) learns a different model.
    assert not np.array_equal(first.encode(X), SemanticHasher(seed=1, **options).fit(X).encode(X))


def test_numpy_encoder_matches_the_torch_network(sample_matrix):
    import torch

    from hashsearch.model.training import sparse_batch

    X, _ = sample_matrix
    hasher = SemanticHasher(bits=32, epochs=1, hidden=64).fit(X)
    with torch.inference_mode():
        expected = torch.sigmoid(hasher.network_.code_logits(*sparse_batch(X, np.arange(X.shape[0]),
                                                                          torch.device("cpu")))).numpy()
    assert np.allclose(hasher.bit_probabilities(X), expected, atol=1e-5)


def test_one_document_path_gives_the_batch_codes(sample_matrix):
    X, _ = sample_matrix
    hasher = SemanticHasher(bits=64, epochs=1, hidden=64).fit(X)
    batch = codelib.unpack(hasher.encode(X))
    probabilities = hasher.bit_probabilities(X)
    for row in range(X.shape[0]):
        start, stop = X.indptr[row], X.indptr[row + 1]
        single = codelib.unpack(hasher.encode_terms(X.indices[start:stop], X.data[start:stop])[None])[0]
        # Float rounding may only decide bits whose probability is within a hair of the threshold.
        undecided = np.abs(probabilities[row] - hasher.thresholds_) < 1e-5
        assert np.array_equal(single[~undecided], batch[row][~undecided])


def test_the_default_is_variational_and_a_model_saved_with_auto_still_loads(sample_matrix):
    X, _ = sample_matrix
    hasher = SemanticHasher(bits=64, epochs=1, hidden=32).fit(X)
    assert hasher.variant == "variational"
    config, weights = hasher.to_bytes()
    saved_by_an_early_version = json.loads(config)  # "auto" was the default then; "variant" held what it resolved to
    saved_by_an_early_version["params"]["variant"], saved_by_an_early_version["variant"] = "auto", "bernoulli"
    assert SemanticHasher.from_bytes(json.dumps(saved_by_an_early_version), weights).variant == "bernoulli"


def test_the_kl_pull_is_the_same_in_total_for_codes_of_32_bits_and_more():
    """Summed over bits the KL term would grow with the code length; past 32 bits its weight shrinks."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.full((4, 128), 2.0)
    _, penalty_128 = binarize(logits, "variational", generator)
    _, penalty_32 = binarize(logits[:, :32], "variational", generator)
    _, penalty_16 = binarize(logits[:, :16], "variational", generator)
    assert torch.isclose(penalty_128, penalty_32) and torch.isclose(penalty_16, penalty_32 / 2)
    assert float(binarize(logits, "bernoulli", generator)[1]) == 0.0


def test_rows_are_scaled_to_unit_length_as_a_dense_reference_scales_them():
    from hashsearch.model.training import _scaled_rows

    values = sp.random(40, 30, density=0.2, dtype=np.float32, random_state=1).toarray()
    values[3] = 0  # an all-zero row stays zero
    X = sp.csr_matrix(values)
    dense = values.astype(np.float64)
    for norm, lengths in ((1, np.abs(dense).sum(axis=1)), (2, np.sqrt((dense ** 2).sum(axis=1)))):
        expected = dense / np.where(lengths == 0, 1, lengths)[:, None]
        scaled = _scaled_rows(X, norm)
        assert scaled.dtype == np.float32 and np.allclose(scaled.toarray(), expected, atol=1e-7)
        assert not scaled[3].nnz


def test_neighbourhood_targets_are_the_sparse_products_targets_bit_for_bit():
    """Against the reference: the neighbours' rows summed by a sparse product (weights the similarities),
    scaled to sum 1; a neighbour twice counts twice, rows without words stay empty."""
    from hashsearch.model.training import TargetTable, _scaled_rows, neighbourhood_targets

    rng = np.random.default_rng(0)
    values = sp.random(300, 250, density=0.1, dtype=np.float32, random_state=2).toarray()
    values[[4, 7]] = 0
    X = sp.csr_matrix(values)
    neighbour_rows = rng.integers(0, 300, (64, 20))
    neighbour_rows[2] = [4, 7] * 10
    neighbour_rows[3, :2] = 9
    similarities = rng.random((64, 20)).astype(np.float32)
    grouping = sp.csr_matrix((similarities.ravel(), neighbour_rows.ravel(), np.arange(0, 64 * 20 + 1, 20)),
                             shape=(64, 300))
    expected = _scaled_rows(sp.csr_matrix(grouping @ X, dtype=np.float32), 1).toarray()
    target = neighbourhood_targets(X, neighbour_rows, similarities)
    assert target.dtype == np.float32 and np.array_equal(target, expected)
    assert not target[2].any() and np.allclose(target[3:].sum(axis=1), 1)
    table = TargetTable(X, neighbour_rows, similarities, chunk=10)  # made a few rows at a time, kept sparse
    batch = np.array([5, 2, 63, 5, 0])  # a row twice, an empty one
    assert np.array_equal(table.rows(batch), expected[batch]) and np.array_equal(table.rows(batch[:0]), expected[:0])


def test_fused_adam_steps_as_torch_optims_fused_adam_bit_for_bit():
    """``FusedAdam`` against ``torch.optim.Adam(fused=True)``: the same network and batches, the same
    parameters after every step (one parameter left without a gradient on one step, as torch skips it)."""
    from hashsearch.model.network import HashingNetwork
    from hashsearch.model.training import FusedAdam

    torch.manual_seed(0)
    ours, theirs = HashingNetwork(n_features=30, hidden=8, bits=16), HashingNetwork(n_features=30, hidden=8, bits=16)
    theirs.load_state_dict(ours.state_dict())
    optimizers = (FusedAdam(ours.parameters(), lr=3e-3), torch.optim.Adam(theirs.parameters(), lr=3e-3, fused=True))
    generator = torch.Generator().manual_seed(1)
    for step in range(6):
        indices = torch.randint(0, 30, (20,), generator=generator)
        weights = torch.rand(20, generator=generator)
        for network, optimizer in zip((ours, theirs), optimizers, strict=True):
            optimizer.zero_grad()
            logits = network.code_logits(indices, torch.tensor([0, 7, 13]), weights)
            loss = -network.word_log_probs(torch.sigmoid(logits)).mean()
            loss.backward()
            if step == 2:
                network.decoder.bias.grad = None
            optimizer.step()
        for mine, reference in zip(ours.parameters(), theirs.parameters(), strict=True):
            assert torch.equal(mine, reference)
