"""The hashing baselines every quality run measures beside hashsearch: LSH and ITQ on the same TF-IDF."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA

from hashsearch.index import codes as codelib


class LSH:
    """Random-hyperplane LSH (Charikar): bit = sign of a Gaussian projection."""

    def __init__(self, *, bits: int, seed: int = 0) -> None:
        self.bits, self.seed = bits, seed

    def fit(self, X: sp.spmatrix) -> LSH:
        self.planes_ = np.random.default_rng(self.seed).standard_normal((X.shape[1], self.bits)).astype(np.float32)
        return self

    def encode(self, X: sp.spmatrix) -> np.ndarray:
        return codelib.pack(np.asarray(X @ self.planes_) > 0)


class ITQ:
    """Iterative quantization (Gong and Lazebnik, 2011): PCA to ``bits`` dimensions, then the rotation
    that minimises the quantization error, 50 iterations."""

    def __init__(self, *, bits: int, seed: int = 0, iterations: int = 50) -> None:
        self.bits, self.seed, self.iterations = bits, seed, iterations

    def fit(self, X: sp.spmatrix) -> ITQ:
        self.pca_ = PCA(n_components=self.bits, svd_solver="arpack", random_state=self.seed).fit(X)
        V = self.pca_.transform(X)
        rng = np.random.default_rng(self.seed)
        R, _ = np.linalg.qr(rng.standard_normal((self.bits, self.bits)))
        for _ in range(self.iterations):
            B = np.sign(V @ R)
            U, _, Wt = np.linalg.svd(B.T @ V)
            R = (U @ Wt).T
        self.rotation_ = R
        return self

    def encode(self, X: sp.spmatrix) -> np.ndarray:
        return codelib.pack(self.pca_.transform(X) @ self.rotation_ > 0)
