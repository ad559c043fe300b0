"""The training signal and the training loop.

Neighbourhood targets: a document alone is a noisy sample of its topic, so each document learns to
reconstruct the term vectors of its nearest documents (itself included), found once by cosine
similarity and weighted by it. Documents that share a neighbourhood then share most of their code
(NbrReg, SNUH do the same). Weighting by similarity lets one neighbour count suit tight and loose
topics: far, weakly similar neighbours count little. Queries never need the neighbour graph: it only
shapes training.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
import torch

from hashsearch.model.network import HashingNetwork
from hashsearch.progress import progress, progress_bar

TARGET_STEPS = 2500  # optimisation steps the default epoch count aims for
MIN_EPOCHS, MAX_EPOCHS = 5, 60
# With the default epoch count, training stops once both have flattened over the last PLATEAU_WINDOW
# epochs: the loss (its mean less than PLATEAU_GAIN, a share, below that of the window before) and the
# codes (at most SETTLED_FLIPS of the bits of up to FLIP_ROWS documents changed from one epoch to the
# next, on average). A small corpus, which gets many epochs to reach TARGET_STEPS, can stop long before:
# the 400-post sample at 33 of 60 epochs. The loss alone flattens earlier than the codes settle:
# stopping on it cost the test collections of 1,000 to 6,000 documents (RESULTS.md, ir-collections).
# 20NG and Reuters reach neither before their default count.
PLATEAU_WINDOW, PLATEAU_GAIN = 5, 5e-3
SETTLED_FLIPS, FLIP_ROWS = 0.05, 2000
_SIMILARITY_CELLS = 20_000_000  # float32 cells of one dense similarity chunk (80 MB)
MASKED_INPUT_SHARE = 0.2  # share of input words hidden from the denoising variant
# The KL term sums over bits, so its pull grows with the code length; past 32 bits its weight shrinks in
# proportion, keeping the total pull that measured best at 32 bits (unscaled, long codes lost precision:
# benchmarks/RESULTS.md, quality).
KL_WEIGHT, KL_FULL_WEIGHT_UP_TO_BITS = 0.05, 32
NOISE_SCALE = 1.0
CONTRASTIVE_TEMPERATURE = 0.3
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, which FusedAdam keeps


def sparse_batch(X: sp.csr_matrix, rows: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The EmbeddingBag inputs (indices, offsets, weights) for some rows of a CSR matrix."""
    batch = X[rows]
    return (torch.from_numpy(batch.indices.astype(np.int64)).to(device),
            torch.from_numpy(batch.indptr[:-1].astype(np.int64)).to(device),
            torch.from_numpy(batch.data.astype(np.float32)).to(device))


def _scaled_rows(X: sp.csr_matrix, norm: int) -> sp.csr_matrix:
    """``X``'s float32 rows scaled to unit L1 (``norm`` 1) or L2 (2) length; all-zero rows stay zero. The
    same arithmetic as scikit-learn's ``normalize`` (squares in float32, sums and division in float64),
    so that codes trained before it was replaced stay the same bit for bit."""
    sizes = np.diff(X.indptr)
    terms = np.abs(X.data) if norm == 1 else X.data * X.data
    lengths = np.zeros(X.shape[0])
    nonempty = sizes > 0
    lengths[nonempty] = np.add.reduceat(terms.astype(np.float64), X.indptr[:-1][nonempty])
    lengths = lengths if norm == 1 else np.sqrt(lengths)
    lengths[lengths == 0] = 1
    return sp.csr_matrix(((X.data / np.repeat(lengths, sizes)).astype(np.float32), X.indices, X.indptr),
                         shape=X.shape)


def default_epochs(n_documents: int, batch_size: int) -> int:
    steps_per_epoch = math.ceil(n_documents / batch_size)
    return int(np.clip(round(TARGET_STEPS / steps_per_epoch), MIN_EPOCHS, MAX_EPOCHS))


def nearest_neighbours(X: sp.csr_matrix, k: int, *, quiet: bool = True,
                       workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) row numbers of each row's ``k`` most cosine-similar rows, itself first, and (n, k) float32
    similarities to them (1 for itself, never below 0).

    Computed in chunks of rows, ``workers`` threads at a time (None: one a CPU; SciPy's product and
    numpy's partition release the GIL), so memory stays at one dense (chunk x n) block in all. Each row's
    answer depends on that row alone: the same for any chunking and any number of workers.
    """
    X = _scaled_rows(sp.csr_matrix(X, dtype=np.float32), 2)
    n = X.shape[0]
    neighbours = np.empty((n, k), dtype=np.int64)
    similarities = np.ones((n, k), dtype=np.float32)
    if k == 1:
        neighbours[:, 0] = np.arange(n)
        return neighbours, similarities
    workers = workers or os.cpu_count() or 1
    chunk = max(1, _SIMILARITY_CELLS // n // workers)
    XT = X.T.tocsc()

    def rows_from(start: int) -> None:
        stop = min(start + chunk, n)
        similarity = (X[start:stop] @ XT).toarray()
        similarity[np.arange(stop - start), np.arange(start, stop)] = np.inf  # a document is its own nearest
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(similarity, top, axis=1), axis=1, kind="stable")
        neighbours[start:stop] = np.take_along_axis(top, order, axis=1)
        similarities[start:stop, 1:] = np.take_along_axis(similarity, neighbours[start:stop, 1:], axis=1)

    with ThreadPoolExecutor(workers) as pool:
        for _ in progress(pool.map(rows_from, range(0, n, chunk)), desc="neighbours", quiet=quiet,
                          total=math.ceil(n / chunk), unit="chunk"):
            pass
    return neighbours, np.maximum(similarities, 0)


def neighbourhood_targets(X: sp.csr_matrix, neighbour_rows: np.ndarray, similarities: np.ndarray) -> np.ndarray:
    """(batch, vocabulary) float32 word distributions: each document's neighbours summed, weighted by
    their similarity to it, L1-normalised.

    Summed into one dense array in neighbour order (``np.add.at`` over the neighbours' words), float32
    as a sparse product sums them: the same bits as ``_scaled_rows(grouping @ X, 1)`` in about half
    the time (tests/test_model.py holds the reference). Each row depends on its own neighbours alone."""
    batch, k = neighbour_rows.shape
    picked = X[neighbour_rows.ravel()]
    sizes = np.diff(picked.indptr)
    cells = np.repeat(np.repeat(np.arange(batch) * X.shape[1], k), sizes) + picked.indices
    summed = np.zeros(batch * X.shape[1], dtype=np.float32)
    np.add.at(summed, cells, picked.data * np.repeat(similarities.ravel(), sizes))
    summed = summed.reshape(batch, X.shape[1])
    lengths = summed.sum(axis=1, dtype=np.float64)
    lengths[lengths == 0] = 1
    return (summed / lengths[:, None]).astype(np.float32)


class TargetTable:
    """Every training document's ``neighbourhood_targets`` row, made once before training (64 rows at a
    time) and kept sparse, so that a step reads its batch's rows instead of summing each document's
    neighbours again: the same bits, in less time, for the memory of the table (a neighbourhood's
    words: thousands a document; time and memory in benchmarks/RESULTS.md, first minutes and scale)."""

    def __init__(self, X: sp.csr_matrix, neighbour_rows: np.ndarray, similarities: np.ndarray, *,
                 chunk: int = 64) -> None:
        self.n_features = X.shape[1]
        indices = [np.empty(0, dtype=np.int32)]  # each list starts empty: no documents, no rows
        data, sizes = [np.empty(0, dtype=np.float32)], [np.empty(0, dtype=np.int64)]
        for start in range(0, len(neighbour_rows), chunk):
            dense = neighbourhood_targets(X, neighbour_rows[start:start + chunk], similarities[start:start + chunk])
            cells = np.flatnonzero(dense)
            indices.append((cells % self.n_features).astype(np.int32))
            data.append(dense.ravel()[cells])
            sizes.append(np.diff(np.searchsorted(cells, np.arange(len(dense) + 1) * self.n_features)))
        self.indptr = np.concatenate([[0], np.cumsum(np.concatenate(sizes))]).astype(np.int64)
        self.indices, self.data = np.concatenate(indices), np.concatenate(data)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), vocabulary) float32: the targets of these documents, dense."""
        starts, sizes = self.indptr[rows], self.indptr[rows + 1] - self.indptr[rows]
        positions = np.arange(int(sizes.sum())) + np.repeat(starts - (np.cumsum(sizes) - sizes), sizes)
        dense = np.zeros((len(rows), self.n_features), dtype=np.float32)
        dense[np.repeat(np.arange(len(rows)), sizes), self.indices[positions]] = self.data[positions]
        return dense


def binarize(logits: torch.Tensor, variant: str, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(code fed to the decoder, extra loss term). Forward values are binary except for the noise variant."""
    if variant == "noise":
        noise = torch.randn(logits.shape, generator=generator, device=logits.device) * NOISE_SCALE
        return torch.sigmoid(logits + noise), logits.new_zeros(())
    probs = torch.sigmoid(logits)
    sample = (torch.rand(probs.shape, generator=generator, device=probs.device) < probs).float()
    code = probs + (sample - probs).detach()  # straight-through: binary forward, sigmoid gradient
    if variant != "variational":
        return code, logits.new_zeros(())
    eps = 1e-7
    kl_to_fair_coin = (probs * torch.log(2 * probs + eps) + (1 - probs) * torch.log(2 * (1 - probs) + eps)).sum(1)
    weight = KL_WEIGHT * min(1.0, KL_FULL_WEIGHT_UP_TO_BITS / logits.shape[1])
    return code, weight * kl_to_fair_coin.mean()


def contrastive_loss(code: torch.Tensor, partner_code: torch.Tensor) -> torch.Tensor:
    """InfoNCE on codes: each document's code should agree with its neighbour's more than with the
    other neighbours in the batch. Agreement is the share of equal bits, rescaled to [-1, 1]."""
    agreement = (2 * code - 1) @ (2 * partner_code - 1).T / code.shape[1]
    return torch.nn.functional.cross_entropy(agreement / CONTRASTIVE_TEMPERATURE,
                                             torch.arange(len(code), device=code.device))


class FusedAdam:
    """Adam (Kingma and Ba; ``ADAM_BETAS``, ``ADAM_EPS``, no weight decay) exactly as
    ``torch.optim.Adam(params, lr=lr, fused=True)`` steps, by the same fused kernel with the same state
    (tests/test_model.py compares them bit for bit), without ``torch.optim``: its first use imports
    torch._dynamo, a second of every cold ``hashsearch index``."""

    def __init__(self, params: Iterable[torch.Tensor], *, lr: float) -> None:
        self.params = list(params)
        self.lr = lr
        self.exp_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.steps = [torch.tensor(0.0, dtype=torch.float32, device=p.device) for p in self.params]

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        live = [i for i, param in enumerate(self.params) if param.grad is not None]
        grads = [grad for grad in (param.grad for param in self.params) if grad is not None]
        steps = [self.steps[i] for i in live]
        for step in steps:
            step.add_(1)
        torch._fused_adam_([self.params[i] for i in live], grads,
                           [self.exp_avgs[i] for i in live], [self.exp_avg_sqs[i] for i in live], [], steps,
                           amsgrad=False, lr=self.lr, beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1], weight_decay=0.0,
                           eps=ADAM_EPS, maximize=False, grad_scale=None, found_inf=None)


def train(network: HashingNetwork, X: sp.csr_matrix, neighbour_rows: np.ndarray, similarities: np.ndarray, *,
          variant: str, contrastive_weight: float, epochs: int | None, batch_size: int, learning_rate: float,
          seed: int, device: torch.device, quiet: bool) -> list[float]:
    """Fit ``network`` in place; returns the mean loss of each epoch (plain floats). ``epochs`` None: up to
    ``default_epochs``, stopping early once the loss and the codes have flattened (``plateaued``,
    ``settled``)."""
    n = X.shape[0]
    stop_on_plateau = epochs is None
    watched = np.unique(np.linspace(0, n - 1, min(n, FLIP_ROWS)).astype(np.int64))  # no draw: the order stays
    watched_bits: list[np.ndarray] = []
    epochs = epochs or default_epochs(n, batch_size)
    rng = np.random.default_rng(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = FusedAdam(network.parameters(), lr=learning_rate)
    targets = TargetTable(X, neighbour_rows, similarities)
    history: list[float] = []
    network.train()
    with progress_bar(desc="training", total=epochs * math.ceil(n / batch_size), quiet=quiet, unit="step") as bar:
        for epoch in range(epochs):
            order = rng.permutation(n)
            loss_sum = 0.0
            for start in range(0, n, batch_size):
                rows = order[start:start + batch_size]
                # Each document's contrastive partner is a random neighbour, encoded in the same pass as
                # the batch: one input-layer gradient instead of two (a third less time per step).
                partners = (neighbour_rows[rows, rng.integers(1, neighbour_rows.shape[1], len(rows))]
                            if contrastive_weight else rows[:0])
                indices, offsets, weights = sparse_batch(X, np.concatenate([rows, partners]), device)
                if variant == "denoising":
                    weights = weights * (torch.rand(weights.shape, generator=generator, device=device)
                                         >= MASKED_INPUT_SHARE)
                target = torch.from_numpy(targets.rows(rows)).to(device)
                codes, penalty = binarize(network.code_logits(indices, offsets, weights), variant, generator)
                code, partner_code = codes[:len(rows)], codes[len(rows):]
                loss = -(target * network.word_log_probs(code)).sum(1).mean() + penalty
                if contrastive_weight:
                    loss = loss + contrastive_weight * contrastive_loss(code, partner_code)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                loss_sum += loss.item() * len(rows)
                bar.update()
            history.append(loss_sum / n)
            bar.set_postfix(epoch=f"{epoch + 1}/{epochs}", loss=f"{history[-1]:.3f}")
            if stop_on_plateau:
                watched_bits = [*watched_bits[-PLATEAU_WINDOW:], _bits(network, X, watched, device)]
                if plateaued(history) and settled(watched_bits):
                    break
    network.eval()
    return history


def _bits(network: HashingNetwork, X: sp.csr_matrix, rows: np.ndarray, device: torch.device) -> np.ndarray:
    """The bits (logit > 0) the network gives these rows of ``X`` now; the network is left training."""
    network.eval()
    with torch.no_grad():
        bits = (network.code_logits(*sparse_batch(X, rows, device)) > 0).cpu().numpy()
    network.train()
    return bits


def settled(bits: list[np.ndarray]) -> bool:
    """Whether the codes have stopped moving: over the last ``PLATEAU_WINDOW`` epochs (``bits``: the
    watched documents' bits after each epoch, oldest first), at most ``SETTLED_FLIPS`` of the bits
    changed from one epoch to the next, on average."""
    if len(bits) <= PLATEAU_WINDOW:
        return False
    flips = [float(np.mean(before != after)) for before, after in zip(bits[-PLATEAU_WINDOW - 1:-1],
                                                                      bits[-PLATEAU_WINDOW:], strict=True)]
    return float(np.mean(flips)) <= SETTLED_FLIPS


def plateaued(history: list[float]) -> bool:
    """Whether the losses have flattened: the mean of the last ``PLATEAU_WINDOW`` epochs is less than
    ``PLATEAU_GAIN`` (relative) below the mean of the ``PLATEAU_WINDOW`` before them."""
    if len(history) < 2 * PLATEAU_WINDOW:
        return False
    recent = float(np.mean(history[-PLATEAU_WINDOW:]))
    before = float(np.mean(history[-2 * PLATEAU_WINDOW:-PLATEAU_WINDOW]))
    return recent > before * (1 - PLATEAU_GAIN)
