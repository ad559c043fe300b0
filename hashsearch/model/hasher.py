"""The semantic-hashing autoencoder and its scikit-learn style estimator, ``SemanticHasher``.

The network (``network.HashingNetwork``), trained by ``training.train``:
encoder: sparse term vector (BM25 or TF-IDF) -> 2 ReLU layers -> ``bits`` logits. During training
each code bit is a Bernoulli sample of sigmoid(logit) with a straight-through gradient, so the decoder
learns to work from binary codes, not from the real-valued activations that would be thrown away at
search time.
decoder: code -> softmax over the vocabulary, scored by the multinomial log-likelihood of a target
word distribution (the document's own words, mixed with its nearest neighbours', see training.py).
At encode time a bit is on when its probability exceeds a threshold (0.5, or the bit's median over the
training corpus); thresholds are stored with the weights so new documents are encoded the same way.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors.numpy import load as load_arrays
from safetensors.numpy import save as save_arrays

from hashsearch.errors import InvalidParameterError
from hashsearch.index import codes as codelib

if TYPE_CHECKING:  # torch is imported only to train (and to rebuild the network on request): not to search;
    import scipy.sparse as sp  # SciPy only where matrices are encoded: a query is one row of (columns, weights)
    import torch

    from hashsearch.model.network import HashingNetwork

FORMAT_VERSION = 1
VARIANTS = ("bernoulli", "variational", "noise", "denoising")
_ENCODE_BATCH = 4096


class SemanticHasher:
    """Learns binary codes for sparse document vectors (rows of a BM25 or TF-IDF matrix).

    Parameters (keyword-only, stored as given; checked in ``fit``):
        bits: code length, one of 16, 32, 64, 128.
        seed: fixes initialisation, sampling and batch order: same data and seed, same codes.
        epochs: passes over the data; None picks about 2,500 optimisation steps (between 5 and 60 epochs),
            and stops sooner once the loss and the codes have stopped changing (``training.settled``).
        batch_size, hidden, learning_rate: the usual.
        neighbours: each document learns to reconstruct the vectors of its ``neighbours`` nearest
            documents, weighted by cosine similarity (itself included; at most one training document
            in 20, so small corpora get fewer); 1 reconstructs only itself, like a plain autoencoder.
        variant: "variational" (default, the best measured at every code length on both benchmark
            corpora: bernoulli plus a KL term toward fair-coin bits, NASH-style), "bernoulli" (sampled bits,
            straight-through), "noise" (deterministic code with Gaussian noise before the sigmoid,
            Salakhutdinov and Hinton), "denoising" (bernoulli, with input words masked).
        contrastive: weight of an InfoNCE term that pulls each code toward a random neighbour's code
            and away from the other documents' neighbours in the batch (0 turns it off).
        max_train_documents: train on a random sample (fixed by ``seed``) of at most this many rows;
            the neighbour search costs O(n^2), and topics are learned long before 100k documents.
        balance_bits: threshold each bit at its median over the training corpus (every bit on for half
            the corpus) instead of at probability 0.5.
        device: "cpu", "cuda" or "auto" (a GPU when torch finds one).
    """

    def __init__(self, *, bits: int = 32, seed: int = 0, epochs: int | None = None, batch_size: int = 64,
                 hidden: int = 500, learning_rate: float = 3e-3, neighbours: int = 50,
                 variant: str = "variational", contrastive: float = 1.0, balance_bits: bool = False,
                 max_train_documents: int = 30_000, device: str = "cpu", quiet: bool = True) -> None:
        self.bits = bits
        self.seed = seed
        self.epochs = epochs
        self.batch_size = batch_size
        self.hidden = hidden
        self.learning_rate = learning_rate
        self.neighbours = neighbours
        self.variant = variant
        self.contrastive = contrastive
        self.balance_bits = balance_bits
        self.max_train_documents = max_train_documents
        self.device = device
        self.quiet = quiet

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in
                ("bits", "seed", "epochs", "batch_size", "hidden", "learning_rate", "neighbours", "variant",
                 "contrastive", "balance_bits", "max_train_documents", "device")}

    def check_params(self) -> None:
        """Raise InvalidParameterError naming the first parameter outside its allowed values."""
        codelib.check_bits(self.bits)
        positive_ints = {"batch_size": self.batch_size, "hidden": self.hidden, "neighbours": self.neighbours,
                         "max_train_documents": self.max_train_documents}
        if self.epochs is not None:
            positive_ints["epochs"] = self.epochs
        for name, value in positive_ints.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidParameterError(f"{name} must be an int >= 1. Got {value!r} instead.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise InvalidParameterError(f"seed must be an int. Got {self.seed!r} instead.")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise InvalidParameterError(f"learning_rate must be a float > 0. Got {self.learning_rate!r} instead.")
        if self.variant not in VARIANTS:
            raise InvalidParameterError(f"variant must be one of {', '.join(VARIANTS)}. Got {self.variant!r} instead.")
        if not (isinstance(self.contrastive, (int, float)) and self.contrastive >= 0):
            raise InvalidParameterError(f"contrastive must be a float >= 0. Got {self.contrastive!r} instead.")
        if self.device not in ("cpu", "cuda", "auto"):
            raise InvalidParameterError(f"device must be one of cpu, cuda, auto. Got {self.device!r} instead.")
        if self.device == "cuda" and not _torch().cuda.is_available():
            raise InvalidParameterError("device is 'cuda' but torch finds no GPU. Use device='cpu' or 'auto'.")

    def _torch_device(self) -> torch.device:
        torch = _torch()
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def fit(self, X: sp.spmatrix) -> SemanticHasher:
        """Train on the rows of ``X`` (documents x terms, non-negative, e.g. L2-normalised BM25 or TF-IDF)."""
        import scipy.sparse as sp

        self.check_params()
        X = sp.csr_matrix(X, dtype=np.float32)
        if X.shape[0] < 2:
            raise InvalidParameterError(f"fit needs at least 2 documents. Got {X.shape[0]}.")
        torch = _torch()
        from hashsearch.model.network import HashingNetwork
        from hashsearch.model.training import nearest_neighbours, train

        device = self._torch_device()
        if X.shape[0] > self.max_train_documents:
            sample = np.random.default_rng(self.seed).choice(X.shape[0], self.max_train_documents, replace=False)
            X = X[np.sort(sample)]
        torch.manual_seed(self.seed)
        network = HashingNetwork(n_features=X.shape[1], hidden=self.hidden, bits=self.bits).to(device)
        # A neighbourhood as large as a topic blurs topics: at most one document in 20 (20 of 400).
        neighbour_rows, similarities = nearest_neighbours(X, min(self.neighbours, max(2, X.shape[0] // 20)),
                                                          quiet=self.quiet)
        self.history_ = train(network, X, neighbour_rows, similarities, variant=self.variant,
                              contrastive_weight=self.contrastive if neighbour_rows.shape[1] > 1 else 0.0,
                              epochs=self.epochs,
                              batch_size=self.batch_size, learning_rate=self.learning_rate, seed=self.seed,
                              device=device, quiet=self.quiet)
        self._set_state(network.config, {name: t.detach().cpu().numpy()
                                         for name, t in network.state_dict().items()})
        # Per-bit medians split the corpus in half on every bit; 0.5 matches how bits were sampled in training.
        self.thresholds_ = (np.median(self.bit_probabilities(X), axis=0).astype(np.float32) if self.balance_bits
                            else np.full(self.bits, 0.5, dtype=np.float32))
        return self

    def _set_state(self, config: dict[str, int], state: dict[str, np.ndarray]) -> None:
        """Keep the trained network as its config and numpy weights (``state_``, torch's parameter names)."""
        self.config_ = dict(config)
        self.state_ = state
        self._numpy_weights: dict[str, np.ndarray] | None = None

    @property
    def network_(self) -> HashingNetwork:
        """The trained network as a torch module (imports torch), rebuilt from ``state_``; searches never
        need it: they encode with the same weights in numpy."""
        torch = _torch()
        from hashsearch.model.network import HashingNetwork

        network = HashingNetwork(**self.config_)
        network.load_state_dict({name: torch.from_numpy(array) for name, array in self.state_.items()})
        return network.eval()

    def bit_probabilities(self, X: sp.spmatrix) -> np.ndarray:
        """(n, bits) float32: the probability each bit is on, before thresholding."""
        import scipy.sparse as sp

        if not (sp.issparse(X) and X.format == "csr" and X.dtype == np.float32):
            X = sp.csr_matrix(X, dtype=np.float32)
        if X.shape[1] != self.config_["n_features"]:
            raise InvalidParameterError(f"X must have {self.config_['n_features']} columns, "
                                        f"the number the model was trained on. Got {X.shape[1]} instead.")
        weights = self._inference_weights()
        out = np.empty((X.shape[0], self.bits), dtype=np.float32)
        for start in range(0, X.shape[0], _ENCODE_BATCH):
            out[start:start + _ENCODE_BATCH] = self._top_layers(X[start:start + _ENCODE_BATCH] @ weights["input"])
        return out

    def encode_terms(self, columns: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The packed code (bits // 8 uint8) of one document given as (columns, weights), e.g. from
        ``TextFeatures.terms``: ``encode`` of that one row, without sparse-matrix overhead. The first layer
        sums the same rows in another order, so the probabilities agree with ``encode``'s to float rounding."""
        first = weights.astype(np.float32, copy=False) @ self._inference_weights()["input"].take(columns, axis=0)
        return np.packbits(self._top_layers(first) > self.thresholds_)  # one row: codelib.pack's layout

    def _top_layers(self, first: np.ndarray) -> np.ndarray:
        """From the input layer's output (before its bias) to bit probabilities; one row or several."""
        weights = self._inference_weights()
        hidden = np.maximum(first + weights["input_bias"], 0)
        hidden = np.maximum(hidden @ weights["hidden"] + weights["hidden_bias"], 0)
        return sigmoid(hidden @ weights["code"] + weights["code_bias"])

    def _inference_weights(self) -> dict[str, np.ndarray]:
        """The encoder as numpy arrays: a forward pass for one query then costs microseconds, not
        torch's per-call overhead, and documents and queries share these arrays."""
        if self._numpy_weights is None:
            state = self.state_
            self._numpy_weights = {
                "input": state["input_layer.weight"], "input_bias": state["input_bias"],
                "hidden": np.ascontiguousarray(state["encoder.1.weight"].T), "hidden_bias": state["encoder.1.bias"],
                "code": np.ascontiguousarray(state["encoder.3.weight"].T), "code_bias": state["encoder.3.bias"]}
        return self._numpy_weights

    def encode(self, X: sp.spmatrix) -> np.ndarray:
        """(n, bits // 8) uint8 packed codes for the rows of ``X``."""
        return codelib.pack(self.bit_probabilities(X) > self.thresholds_)

    def to_bytes(self) -> tuple[str, bytes]:
        """(config JSON, safetensors bytes): the estimator's params and architecture beside its weights."""
        config = {"format_version": FORMAT_VERSION, "params": self.get_params(), "network": self.config_,
                  "history": self.history_}
        arrays = {name: np.ascontiguousarray(array) for name, array in self.state_.items()}
        arrays["thresholds"] = self.thresholds_
        return json.dumps(config), save_arrays(arrays)

    @classmethod
    def from_bytes(cls, config_json: str, weights: bytes | None) -> SemanticHasher:
        """The hasher ``to_bytes`` saved. ``weights`` None: its params, architecture and training history
        alone, which describe the model (``Searcher.info``) but cannot encode."""
        config = json.loads(config_json)
        if config.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported model format {config.get('format_version')!r}")
        params = config["params"]
        if params["variant"] == "auto":  # an earlier default, resolved by code length when it was trained
            params["variant"] = config["variant"]
        hasher = cls(**params)
        hasher.history_ = config["history"]
        if weights is None:
            hasher.config_ = dict(config["network"])
            return hasher
        arrays = load_arrays(weights)
        hasher.thresholds_ = arrays.pop("thresholds")
        hasher._set_state(config["network"], arrays)
        return hasher


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """The logistic function of float32 ``logits``, computed in float64 and rounded once to float32: the
    same value on every platform (a float32 ``exp`` may differ by a unit in the last place between libms)."""
    with np.errstate(over="ignore"):  # exp of more than 709.78 is inf, and 1 / inf is the right 0
        return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)


def _torch() -> Any:
    """torch, imported on first use: it takes a second or more to import, and only training needs it."""
    import torch

    return torch
