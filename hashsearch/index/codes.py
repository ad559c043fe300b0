"""Packed binary codes and the Hamming arithmetic on them.

A code of ``bits`` bits is stored as ``bits // 8`` uint8 bytes (numpy ``packbits`` order: bit 0 is
the most significant bit of byte 0), the layout FAISS binary indexes use too.
"""
from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from math import comb

import numpy as np

from hashsearch.errors import InvalidParameterError

ALLOWED_BITS = (16, 32, 64, 128)
# A ball is probed bucket by bucket only while it holds at most this many codes; past that a scan is cheaper.
DEFAULT_PROBE_BUDGET = 3000
_FOLD_ROTATION = 29


def check_bits(bits: object) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or int(bits) not in ALLOWED_BITS:
        raise InvalidParameterError(f"bits must be one of {', '.join(map(str, ALLOWED_BITS))}. Got {bits!r} instead.")
    return int(bits)


def pack(bits: np.ndarray) -> np.ndarray:
    """(n, bits) booleans -> (n, bits // 8) uint8."""
    return np.packbits(np.asarray(bits, dtype=bool), axis=1)


def unpack(codes: np.ndarray) -> np.ndarray:
    """(n, bytes) uint8 -> (n, bytes * 8) uint8 of 0/1."""
    return np.unpackbits(np.asarray(codes, dtype=np.uint8), axis=1)


def hamming(query: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Hamming distance from one packed ``query`` to each row of ``codes`` (popcount of the XOR).

    Codes of whole 64-bit words are compared a word at a time: a filter's scan of 100,000 codes in a
    fraction of the byte-wise time."""
    if codes.shape[-1] % 8 == 0 and codes.dtype == np.uint8:
        words = np.ascontiguousarray(codes).view(np.uint64)
        return np.bitwise_count(words ^ np.ascontiguousarray(query).view(np.uint64)).sum(axis=1, dtype=np.int64)
    return np.bitwise_count(np.bitwise_xor(codes, query)).sum(axis=1, dtype=np.int64)


@lru_cache(maxsize=1024)
def ball_size(bits: int, radius: int) -> int:
    """How many codes lie within ``radius`` bit flips of a code: sum of C(bits, r) for r <= radius."""
    return sum(comb(bits, r) for r in range(radius + 1))


@lru_cache(maxsize=64)
def default_radius(bits: int, budget: int = DEFAULT_PROBE_BUDGET) -> int:
    """The largest radius whose ball holds at most ``budget`` codes (at least 1).

    With the default budget: 4 at 16 bits, 2 at 32 and 64 bits, 1 at 128 bits."""
    radius = 1
    while ball_size(bits, radius + 1) <= budget:
        radius += 1
    return radius


@lru_cache(maxsize=32)
def flip_masks(bits: int, distance: int) -> np.ndarray:
    """Every packed mask with exactly ``distance`` bits set; XOR with a code enumerates its neighbours."""
    positions = np.array(list(combinations(range(bits), distance)), dtype=np.int64)
    positions = positions.reshape(comb(bits, distance), distance)
    masks = np.zeros((len(positions), bits), dtype=bool)
    masks[np.repeat(np.arange(len(positions)), distance), positions.ravel()] = True
    packed = pack(masks)
    packed.setflags(write=False)
    return packed


def bucket_keys(codes: np.ndarray) -> np.ndarray:
    """One uint64 per code for hash-table lookups: the code itself up to 64 bits, a folded XOR above.

    The key is linear in the code (key(a ^ b) == key(a) ^ key(b)), so the keys of a code's neighbours
    are its key XOR precomputed mask keys, with no re-packing per probe. Folded keys of different codes
    can collide, so callers compare full codes after a match.
    """
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    n, n_bytes = codes.shape
    if n_bytes == 8:  # the code itself
        return codes.view(">u8").ravel().astype(np.uint64)
    words = -(-n_bytes // 8)
    padded = np.zeros((n, words * 8), dtype=np.uint8)
    padded[:, :n_bytes] = codes
    as_words = padded.view(">u8").astype(np.uint64)
    keys = as_words[:, 0].copy()
    for w in range(1, words):
        # Rotating each further word keeps bit i of one word from always cancelling bit i of the next.
        shift = np.uint64(_FOLD_ROTATION * w % 64)
        keys ^= (as_words[:, w] << shift) | (as_words[:, w] >> (np.uint64(64) - shift))
    return keys


def bucket_key(code: np.ndarray) -> np.uint64:
    """``bucket_keys`` of one code, in plain integers: a query needs one key, and numpy's per-call cost
    for a single row is most of a lookup's time."""
    raw = bytes(code)
    raw += b"\0" * (-len(raw) % 8)
    key = int.from_bytes(raw[:8], "big")
    for w in range(1, len(raw) // 8):
        word, shift = int.from_bytes(raw[8 * w:8 * w + 8], "big"), _FOLD_ROTATION * w % 64
        key ^= ((word << shift) | (word >> (64 - shift))) & 0xFFFF_FFFF_FFFF_FFFF
    return np.uint64(key)


@lru_cache(maxsize=32)
def ball_keys(bits: int, radius: int) -> np.ndarray:
    """``bucket_keys`` of every mask with at most ``radius`` bits set: XOR with a code's key gives the
    keys of every code in its Hamming ball. Each key once: folded keys of two masks can be equal."""
    keys = np.unique(np.concatenate([bucket_keys(flip_masks(bits, distance)) for distance in range(radius + 1)]))
    keys.setflags(write=False)
    return keys


def keys_are_exact(n_bytes: int) -> bool:
    return n_bytes <= 8


def bucket_sizes(codes: np.ndarray) -> np.ndarray:
    """How many of the packed ``codes`` share each distinct code (by bucket key), in key order."""
    return np.unique(bucket_keys(codes), return_counts=True)[1] if len(codes) else np.empty(0, dtype=np.int64)


def size_histogram(sizes: np.ndarray) -> dict[str, int]:
    """How many buckets hold 1, 2-3, 4-7, ... documents: the spread of the codes at a glance."""
    if not len(sizes):
        return {}
    bins = np.bincount(np.floor(np.log2(sizes)).astype(np.int64))
    return {(f"{2**b}" if b == 0 else f"{2**b}-{2**(b + 1) - 1}"): int(count) for b, count in enumerate(bins) if count}
