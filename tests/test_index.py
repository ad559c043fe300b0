import numpy as np
import pytest

from hashsearch.index import codes
from hashsearch.index.code_index import CodeIndex
from hashsearch.index.probing import DEFAULT_STRATEGY, ProbeStrategy

PROBE_COST_IN_CODES = DEFAULT_STRATEGY.probe_cost_in_codes
ALWAYS_PROBE = ProbeStrategy(probe_cost_in_codes=0.0, probe_overhead_in_codes=0.0)  # every ball within the radius


def reference_top_k(query, database, k):
    """Brute force: popcount distances, ties by ascending row."""
    distances = codes.hamming(query, database)
    order = np.lexsort((np.arange(len(database)), distances))[:k]
    return order, distances[order]


def clustered_codes(bits, n, seed):
    """Codes in a few tight clusters, so buckets hold several rows and distances tie a lot."""
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 256, (8, bits // 8), dtype=np.uint8)
    flips = codes.pack(rng.random((n, bits)) < 0.04)
    return centres[rng.integers(0, 8, n)] ^ flips


def queries_near(database, bits, n, flip, seed):
    """n queries, each a random database code with each bit flipped with probability ``flip``."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield database[rng.integers(len(database))] ^ codes.pack(rng.random((1, bits)) < flip)[0]


@pytest.mark.parametrize("bits", [16, 32, 64, 128])
@pytest.mark.parametrize("k", [1, 10, 100])
@pytest.mark.parametrize("probe_cost", [0.0, PROBE_COST_IN_CODES])  # 0: always probe the whole radius
@pytest.mark.parametrize("few_buckets", [0, 10**6])  # rank every ball's rows with numpy / in plain Python
@pytest.mark.parametrize("numpy_scan", [0, 10**6])  # scans by FAISS or the bucket keys / by numpy
@pytest.mark.parametrize("bucket_scan_share", [0.0, 1.0])  # FAISS / the bucket keys (up to 64 bits)
def test_search_equals_brute_force(bits, k, probe_cost, few_buckets, numpy_scan, bucket_scan_share):
    database = clustered_codes(bits, 3000, seed=bits)
    index = CodeIndex(database, bits, strategy=ProbeStrategy(
        probe_cost_in_codes=probe_cost, probe_overhead_in_codes=0.0, few_buckets=few_buckets,
        numpy_scan_codes=numpy_scan, bucket_scan_share=bucket_scan_share))
    for query in queries_near(database, bits, 8, 0.05, seed=0):
        for radius in (0, 1, codes.default_radius(bits)):
            rows, distances = index.search(query, k, radius)
            expected_rows, expected_distances = reference_top_k(query, database, k)
            assert rows.tolist() == expected_rows.tolist()
            assert distances.tolist() == expected_distances.tolist()


@pytest.mark.parametrize("bits", [32, 64, 128])
@pytest.mark.parametrize("k", [1, 10, 100])
@pytest.mark.parametrize("probe_cost", [0.0, PROBE_COST_IN_CODES])
def test_probe_is_an_exact_prefix_and_nothing_left_out_is_under_its_floor(bits, k, probe_cost):
    database = clustered_codes(bits, 3000, seed=bits)
    index = CodeIndex(database, bits,
                      strategy=ProbeStrategy(probe_cost_in_codes=probe_cost, probe_overhead_in_codes=0.0))
    for query in queries_near(database, bits, 8, 0.1, seed=1):
        for radius in (0, 1, codes.default_radius(bits)):
            rows, distances, floor = index.probe(query, k, radius, enough=min(k, 5))
            expected_rows, expected_distances = reference_top_k(query, database, len(database))
            assert rows.tolist() == expected_rows[:len(rows)].tolist()
            assert distances.tolist() == expected_distances[:len(rows)].tolist()
            assert len(rows) <= k and expected_distances[len(rows):].min(initial=bits + 1) >= floor
            if len(rows) < k:  # the balls held too few: every row within them, none farther
                assert floor > distances.max(initial=-1)


def test_ties_come_in_ascending_row_order_in_bucket_and_scan():
    database = np.zeros((50, 4), dtype=np.uint8)  # every row in one bucket, all at distance 0
    index = CodeIndex(database, 32, strategy=ProbeStrategy(probe_overhead_in_codes=0.0))
    rows, distances = index.search(database[0], 10, radius=0)
    assert rows.tolist() == list(range(10)) and distances.tolist() == [0] * 10
    rows, _ = index.scan(np.full(4, 255, np.uint8), 10)
    assert rows.tolist() == list(range(10))


def test_k_larger_than_index_returns_everything_sorted():
    database = clustered_codes(32, 20, seed=3)
    rows, distances = CodeIndex(database, 32).search(database[0], 100, radius=2)
    assert sorted(rows.tolist()) == list(range(20))
    assert distances.tolist() == sorted(distances.tolist())


def test_empty_index_returns_nothing():
    index = CodeIndex(np.zeros((0, 8), dtype=np.uint8), 64)
    rows, distances = index.search(np.zeros(8, np.uint8), 10, radius=2)
    assert len(rows) == 0 and len(distances) == 0
    assert index.n_buckets == 0 and index.largest_bucket == 0


def test_lookup_finds_exact_bucket_only():
    database = np.array([[1, 0], [1, 0], [2, 0]], dtype=np.uint8)
    index = CodeIndex(database, 16)
    assert index.lookup(np.array([[1, 0]], np.uint8)).tolist() == [0, 1]
    assert index.lookup(np.array([[3, 0]], np.uint8)).tolist() == []
    assert index.n_buckets == 2 and index.largest_bucket == 2



def test_folded_128_bit_keys_that_collide_are_told_apart():
    # The fold is linear, so a second half that cancels the first gives the all-zero code's key.
    zero = np.zeros(16, np.uint8)
    twin = np.frombuffer(np.array([1 << codes._FOLD_ROTATION, 1], dtype=">u8").tobytes(), np.uint8)
    assert codes.bucket_keys(zero[None])[0] == codes.bucket_keys(twin[None])[0]
    index = CodeIndex(np.stack([zero, twin]), 128, strategy=ALWAYS_PROBE)
    assert index.lookup(zero[None]).tolist() == [0] and index.lookup(twin[None]).tolist() == [1]
    rows, distances = index.search(twin, 2, radius=1)
    assert rows.tolist() == [1, 0] and distances.tolist() == [0, 2]


@pytest.mark.parametrize("n", [50, 500])  # fewer, then more tied rows than FAISS is asked for
@pytest.mark.parametrize("numpy_scan", [0, 10**6])
@pytest.mark.parametrize("bucket_scan_share", [0.0, 1.0])  # 0: FAISS's scan; 1: the bucket keys'
def test_scan_orders_rows_tied_at_the_kth_distance_by_row(n, numpy_scan, bucket_scan_share):
    strategy = ProbeStrategy(numpy_scan_codes=numpy_scan, bucket_scan_share=bucket_scan_share)
    database = np.zeros((n, 8), dtype=np.uint8)
    database[::2, 0] = 1  # even rows at distance 0 from the query, odd rows at distance 1
    index = CodeIndex(database, 64, strategy=strategy)
    for k in (10, 30, 40):
        rows, distances = index.scan(database[0], k)
        expected_rows, expected_distances = reference_top_k(database[0], database, k)
        assert rows.tolist() == expected_rows.tolist() and distances.tolist() == expected_distances.tolist()


def test_folded_keys_shared_by_two_flips_give_each_row_once():
    # At 128 bits, flipping bit 29 of the first word and bit 0 of the second fold to the same key bit.
    query = np.zeros(16, np.uint8)
    database = codes.pack(np.eye(128, dtype=bool))  # every code at distance 1 from the query
    index = CodeIndex(database, 128, strategy=ALWAYS_PROBE)
    rows, distances = index.search(query, 128, radius=1)
    assert rows.tolist() == list(range(128)) and distances.tolist() == [1] * 128


@pytest.mark.parametrize("bits", [16, 32, 64, 128])
def test_ball_probe_equals_brute_force_on_random_codes(bits):
    # Spread codes: the filter turns most probes away, and the ball rarely holds k rows.
    rng = np.random.default_rng(bits)
    database = rng.integers(0, 256, (20_000, bits // 8), dtype=np.uint8)
    index = CodeIndex(database, bits, strategy=ALWAYS_PROBE)
    for row in rng.integers(0, len(database), 20):
        query = database[row] ^ codes.pack(rng.random((1, bits)) < 0.02)[0]
        for k in (1, 3):
            rows, distances = index.search(query, k, codes.default_radius(bits))
            expected_rows, expected_distances = reference_top_k(query, database, k)
            assert rows.tolist() == expected_rows.tolist()
            assert distances.tolist() == expected_distances.tolist()


@pytest.mark.parametrize("bits", [32, 64, 128])
def test_enough_returns_an_exact_prefix_of_at_least_that_many(bits):
    database = clustered_codes(bits, 30000, seed=bits)
    index = CodeIndex(database, bits)
    sizes = set()
    for query in queries_near(database, bits, 20, 0.05, seed=1):
        rows, distances = index.search(query, 100, codes.default_radius(bits), enough=10)
        expected_rows, expected_distances = reference_top_k(query, database, len(rows))
        assert 10 <= len(rows) <= 100 and rows.tolist() == expected_rows.tolist()
        assert distances.tolist() == expected_distances.tolist()
        sizes.add(len(rows))
    assert sizes != {100} or bits == 128  # some answers came from a ball holding fewer than 100


@pytest.mark.parametrize("bits", [32, 64, 128])
@pytest.mark.parametrize("share", [0.02, 0.3, 0.9])
def test_allowed_rows_of_a_ball_are_the_exact_top_k_among_them(bits, share):
    """search_allowed answers, when it answers, with the brute-force top k of the allowed rows."""
    rng = np.random.default_rng(bits)
    database = clustered_codes(bits, 3000, seed=bits)
    index = CodeIndex(database, bits, strategy=ALWAYS_PROBE)
    allowed = rng.random(len(database)) < share
    answered = 0
    for query in list(database[:40:4]) + [rng.integers(0, 256, bits // 8, dtype=np.uint8)]:
        distances = codes.hamming(query, database)
        order = [row for row in np.lexsort((np.arange(len(database)), distances)) if allowed[row]]
        for k, enough in ((1, 1), (10, 10), (100, 10)):
            found = index.search_allowed(query, allowed, int(allowed.sum()), k, 2, enough)
            if found is not None:
                answered += 1
                rows, found_distances = found
                assert enough <= len(rows) <= k
                assert rows.tolist() == order[:len(rows)] and found_distances.tolist() == distances[rows].tolist()
    assert answered  # the clusters' balls hold enough allowed rows for some queries


def reference_ball(query, database, at_least, allowed):
    """Brute force for ``CodeIndex.ball``: the allowed rows within the ``at_least``-th nearest distance."""
    distances = codes.hamming(query, database)
    rows = np.flatnonzero(allowed)
    if len(rows) <= at_least:
        return set(rows.tolist()), None
    reach = int(np.sort(distances[rows])[at_least - 1])
    return set(rows[distances[rows] <= reach].tolist()), reach


@pytest.mark.parametrize("bits", [32, 64, 128])
@pytest.mark.parametrize("at_least", [1, 20, 400, 5000])  # 5000: more than the index holds
@pytest.mark.parametrize("probe_cost", [0.0, PROBE_COST_IN_CODES])  # 0: always probe the balls
@pytest.mark.parametrize("share", [1.0, 0.9, 0.05])  # of the rows allowed
def test_ball_holds_every_allowed_row_within_the_nearest_distance(bits, at_least, probe_cost, share):
    rng = np.random.default_rng(bits + at_least)
    database = clustered_codes(bits, 3000, seed=bits)
    database[:300] = database[0]  # one crowded bucket: a ball is never cut inside a bucket
    index = CodeIndex(database, bits,
                      strategy=ProbeStrategy(probe_cost_in_codes=probe_cost, probe_overhead_in_codes=0.0))
    allowed = rng.random(len(database)) < share
    for query in [database[0], *queries_near(database, bits, 6, 0.05, seed=2)]:
        for radius in (0, 1, codes.default_radius(bits)):
            mask = None if share == 1.0 else allowed
            rows, distances, reach = index.ball(query, at_least, radius, mask, int(allowed.sum()) if mask is not None
                                                else len(database))
            expected, expected_reach = reference_ball(query, database, at_least, allowed if mask is not None
                                                      else np.ones(len(database), dtype=bool))
            assert sorted(rows.tolist()) == sorted(expected) and len(rows) == len(expected)
            assert distances.tolist() == codes.hamming(query, database[rows]).tolist()
            assert reach == (bits if expected_reach is None else expected_reach)


@pytest.mark.parametrize("bits", [32, 64, 128])  # folded keys (128) always scan with FAISS
@pytest.mark.parametrize("bucket_scan_share", [0.0, 1.0])  # 0: FAISS's scan; 1: the bucket keys' (exact keys)
@pytest.mark.parametrize("near_buckets", [0, 8])  # 0: the buckets within reach are counted among all
def test_ball_past_the_radius_of_a_large_index_comes_from_a_scan(bits, bucket_scan_share, near_buckets):
    database = clustered_codes(bits, 3000, seed=7)
    database[:200] = database[0]  # ties at the nearest distance run past the FAISS scan's margin
    index = CodeIndex(database, bits, strategy=ProbeStrategy(numpy_scan_codes=100, bucket_scan_share=bucket_scan_share,
                                                             scan_near_buckets=near_buckets))
    for query in [database[0] ^ np.uint8(7), *queries_near(database, bits, 5, 0.2, seed=3)]:
        for at_least in (10, 150, 250):
            rows, distances, reach = index.ball(query, at_least, 0)
            expected, expected_reach = reference_ball(query, database, at_least, np.ones(len(database), dtype=bool))
            assert sorted(rows.tolist()) == sorted(expected) and len(rows) == len(expected)
            assert distances.tolist() == codes.hamming(query, database[rows]).tolist() and reach == expected_reach


@pytest.mark.parametrize("bucket_scan_share", [0.0, 1.0])  # FAISS's scan / the bucket keys'
def test_ball_from_a_scan_that_finds_exactly_at_least_rows_reaches_their_distance(bucket_scan_share):
    strategy = ProbeStrategy(numpy_scan_codes=100, bucket_scan_share=bucket_scan_share)
    database = np.full((1000, 8), 255, dtype=np.uint8)  # 900 rows at distance 64 from the query
    database[:100] = 0
    database[:100, 0] = 1  # 100 rows at distance 1: no bucket of the query's own, radius 0
    index = CodeIndex(database, 64, strategy=strategy)
    rows, distances, reach = index.ball(np.zeros(8, np.uint8), 100, 0)
    assert sorted(rows.tolist()) == list(range(100)) and set(distances.tolist()) == {1} and reach == 1


def test_path_counters_show_the_probe_sequence():
    """The own bucket answers a query whose bucket holds k rows; a ball one whose radius-1 ball does; a
    scan the rest (numpy below ``numpy_scan_codes``, else the bucket keys or FAISS)."""
    database = np.zeros((200, 8), dtype=np.uint8)
    database[100:, 0] = 1  # 100 rows on the query's code, 100 one bit away
    index = CodeIndex(database, 64, strategy=ALWAYS_PROBE)
    index.search(database[0], 10, radius=2)
    assert index.stats.as_dict() == {"own_bucket": 1, "ball": 0, "numpy_scan": 0, "bucket_scan": 0, "faiss_scan": 0}
    index.search(database[0], 150, radius=2)
    assert (index.stats.own_bucket, index.stats.ball, index.stats.scans) == (1, 1, 0)
    index.search(database[0], 200, radius=0)
    assert index.stats.scans == 1 and index.stats.numpy_scan == 1
    for share, path in ((1.0, "bucket_scan"), (0.0, "faiss_scan")):
        scanning = CodeIndex(database, 64, strategy=ProbeStrategy(widest_ball=-1, numpy_scan_codes=10,
                                                                  bucket_scan_share=share))
        rows, distances = scanning.search(database[150], 120, radius=2)
        assert getattr(scanning.stats, path) == 1 and scanning.stats.scans == 1
        assert distances.tolist() == [0] * 100 + [1] * 20 and rows.tolist() == list(range(100, 200)) + list(range(20))
