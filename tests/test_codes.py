from math import comb

import numpy as np
import pytest

from hashsearch import InvalidParameterError
from hashsearch.index import codes


def popcount_reference(a: np.ndarray, b: np.ndarray) -> int:
    return sum(bin(x ^ y).count("1") for x, y in zip(a.tolist(), b.tolist(), strict=False))


@pytest.mark.parametrize("bits", [16, 32, 64, 128])
def test_pack_unpack_round_trip(bits):
    rng = np.random.default_rng(bits)
    raw = rng.random((50, bits)) < 0.5
    packed = codes.pack(raw)
    assert packed.dtype == np.uint8 and packed.shape == (50, bits // 8)
    assert (codes.unpack(packed) == raw).all()


@pytest.mark.parametrize("bits", [16, 32, 64, 128])
def test_hamming_matches_brute_force(bits):
    rng = np.random.default_rng(1)
    database = rng.integers(0, 256, (200, bits // 8), dtype=np.uint8)
    query = rng.integers(0, 256, bits // 8, dtype=np.uint8)
    expected = [popcount_reference(query, row) for row in database]
    assert codes.hamming(query, database).tolist() == expected


@pytest.mark.parametrize("bits,distance", [(16, 0), (16, 1), (16, 3), (32, 2), (64, 2), (128, 1)])
def test_flip_masks_enumerate_each_neighbour_once(bits, distance):
    masks = codes.flip_masks(bits, distance)
    assert len(masks) == comb(bits, distance)
    assert (codes.hamming(np.zeros(bits // 8, np.uint8), masks) == distance).all()
    assert len({m.tobytes() for m in masks}) == len(masks)


def test_default_radius_keeps_ball_within_budget():
    for bits in codes.ALLOWED_BITS:
        radius = codes.default_radius(bits)
        assert codes.ball_size(bits, radius) <= codes.DEFAULT_PROBE_BUDGET or radius == 1
        assert codes.ball_size(bits, radius + 1) > codes.DEFAULT_PROBE_BUDGET


def test_bucket_keys_are_exact_up_to_64_bits_and_spread_above():
    rng = np.random.default_rng(2)
    for bits in (16, 32, 64):
        packed = rng.integers(0, 256, (1000, bits // 8), dtype=np.uint8)
        keys = codes.bucket_keys(packed)
        assert len(set(keys.tolist())) == len({p.tobytes() for p in packed})
    wide = rng.integers(0, 256, (1000, 16), dtype=np.uint8)
    assert len(set(codes.bucket_keys(wide).tolist())) == 1000


def test_check_bits_message():
    with pytest.raises(InvalidParameterError, match=r"^bits must be one of 16, 32, 64, 128\. Got 30 instead\.$"):
        codes.check_bits(30)


@pytest.mark.parametrize("bits", [16, 32, 64, 128])
def test_bucket_key_of_one_code_equals_the_vectorised_keys(bits):
    packed = np.random.default_rng(bits).integers(0, 256, (200, bits // 8), dtype=np.uint8)
    assert [codes.bucket_key(p) for p in packed] == codes.bucket_keys(packed).tolist()
