"""How a ``CodeIndex`` looks for near codes: its knobs (``ProbeStrategy``), the order it probes in
(``probe_radii``), and counters of the paths its searches took (``PathStats``).

Every search of the code index takes the same sequence: the query's own bucket, then the ball of
radius 1, then the widest ball worth probing, then a scan of every code; it stops at the first that
holds enough rows, which makes the answer exact. Which balls are worth probing, and how a scan is done,
are the strategy's choices, each a cost measured on a 2-core x86 machine (the timings beside them).
"""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class ProbeStrategy:
    """The code index's knobs; ``CodeIndex(..., strategy=...)`` takes one (tests and benchmarks pass
    their own instead of patching module globals).

    probe_overhead_in_codes, probe_cost_in_codes: probing a ball costs a fixed overhead (numpy calls)
        plus a little per probed code, both counted in codes a FAISS scan reads in the same time; the
        widest ball probed is the widest cheaper than a scan of everything.
    widest_ball: probe balls up to this radius whatever they cost (None: by the costs above).
    scan_tie_margin: a FAISS scan asks for this many rows past the k-th, to see ties at its last distance.
    scan_near_buckets: a scan of the bucket keys counts the rows of the buckets within this distance
        first (a weighted count of every bucket costs more than the popcounts).
    bucket_scan_share: scans read the bucket keys when there are at most this many distinct codes per
        code (at 1M documents 193,150 of them scan in 0.3 against 0.6-1.1 ms for FAISS's scan).
    numpy_scan_codes: up to this many codes a numpy scan beats FAISS's flat scan, whose tie handling
        often needs a second, range search, and whose threads stall on busy cores.
    filter_slots_per_bucket: slots per bucket (rounded up to a power of two) of the filter that most
        probes of a ball never pass; filter_from_keys: smaller balls skip it (its calls cost more).
    few_buckets: rows of at most this many buckets are ranked in plain Python (numpy's ~25 calls cost
        more: radius-1 hits of a 100k index at a median of 8 buckets in 58 instead of 87 us).
    """

    probe_overhead_in_codes: float = 10_000.0
    probe_cost_in_codes: float = 30.0
    widest_ball: int | None = None
    scan_tie_margin: int = 64
    scan_near_buckets: int = 8
    bucket_scan_share: float = 0.5
    numpy_scan_codes: int = 65_536
    filter_slots_per_bucket: int = 4
    filter_from_keys: int = 256
    few_buckets: int = 24


DEFAULT_STRATEGY = ProbeStrategy()


def probe_radii(widest: int, *, skip_zero: bool) -> tuple[int, ...]:
    """The radii of the balls to probe, in order: 0 (unless ``skip_zero``: the caller looked at the
    query's own bucket already), 1, then ``widest``; none when ``widest`` < 0 (no ball is worth it)."""
    if widest < 0:
        return ()
    return tuple(sorted({0, min(1, widest), widest} - ({0} if skip_zero else set())))


@dataclass
class PathStats:
    """How many searches each path answered: the query's own bucket, a probed ball, or a scan (of numpy
    over the codes, of the bucket keys, or FAISS's). Counted without a lock: exact for one thread, a
    close count under concurrent searches (they are for tests, benchmarks and curiosity)."""

    own_bucket: int = 0
    ball: int = 0
    numpy_scan: int = 0
    bucket_scan: int = 0
    faiss_scan: int = 0

    @property
    def scans(self) -> int:
        return self.numpy_scan + self.bucket_scan + self.faiss_scan

    def as_dict(self) -> dict[str, int]:
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def reset(self) -> None:
        for field in fields(self):
            setattr(self, field.name, 0)
