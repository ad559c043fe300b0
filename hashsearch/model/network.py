"""The semantic-hashing autoencoder's network: a sparse-input encoder to code logits, a decoder to words.

Kept apart from the estimator (``model``) and the training loop (``training``), which both use it.
"""
from __future__ import annotations

import torch
from torch import nn


class HashingNetwork(nn.Module):
    """Encoder and decoder; ``config`` holds everything needed to rebuild it from saved weights."""

    def __init__(self, *, n_features: int, hidden: int, bits: int) -> None:
        super().__init__()
        self.config = {"n_features": n_features, "hidden": hidden, "bits": bits}
        # An EmbeddingBag with per-sample weights is a linear layer over sparse input: cost scales with
        # the words in a document, not with the vocabulary.
        self.input_layer = nn.EmbeddingBag(n_features, hidden, mode="sum")
        self.input_bias = nn.Parameter(torch.zeros(hidden))
        self.encoder = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, bits))
        self.decoder = nn.Linear(bits, n_features)

    def code_logits(self, indices: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        hidden = self.input_layer(indices, offsets, per_sample_weights=weights) + self.input_bias
        return self.encoder(hidden)

    def word_log_probs(self, code: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.decoder(code), dim=1)
