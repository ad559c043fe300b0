import os
import uuid
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from hashsearch import Searcher
from hashsearch.index import codes as codelib
from hashsearch.index import probing, ranking
from hashsearch.index.probing import ProbeStrategy
from hashsearch.index.sketch import SKETCH_BITS
from hashsearch.index.words import query_words
from hashsearch.text.analysis import Analyzer

ANALYZER = Analyzer()  # the default text analysis, as a default build uses it

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
FAST = {"epochs": 3, "hidden": 64}  # enough training to exercise every path; quality is tested separately
# A PostgreSQL server to run the backend-parametrized tests against too; .ci/run always starts one.
POSTGRES_URL = os.environ.get("HASHSEARCH_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)]  # a server: the slow tier
# How a large index scans its codes, on the sample: numpy (as a small index does), or the bucket keys.
SCANS = ("numpy", "bucket keys")


def use_scan(scan: str, monkeypatch) -> None:
    """Make ``CodeIndex`` scan the way a large index does (``SCANS``): past the probed balls, which a
    sample-sized index never probes, every lookup then scans the bucket keys."""
    if scan == "bucket keys":
        monkeypatch.setattr(probing, "DEFAULT_STRATEGY", ProbeStrategy(numpy_scan_codes=0, bucket_scan_share=1.0))


def query_positions(words, text):
    """(positions in ``words``, a WordIndex, of the words of ``text`` it holds; how often the text holds
    each), as a search finds them."""
    hashes, counts = query_words(ANALYZER.terms(text))
    positions, held = words.locate(hashes)
    return positions, counts[held]


def word_score_array(words, query_words, counts=None):
    """Each row's BM25 score for the query's words (positions in ``words``, a WordIndex; its
    ``MAX_QUERY_WORDS`` rarest, their ``QUERY_POSTINGS`` postings that add most, as ``WordIndex.reads``
    picks them, tests/test_query_cut.py; ``counts``: how often the query holds each), 0 for a row in
    none of the postings read."""
    lexical = np.zeros(words.n_documents, dtype=np.float32)
    chosen = words.rarest(query_words, ranking.MAX_QUERY_WORDS)
    counts = None if counts is None else counts[chosen]
    reads = words.reads(query_words[chosen], words.scales(query_words[chosen], counts), ranking.QUERY_POSTINGS)
    rows, scores = words.scores(query_words[chosen], counts=counts, reads=reads)
    lexical[rows] = scores
    return lexical


def feedback_reference(query_code, codes, lexical, n_known, n_terms):
    """The code a query is ranked by, brute force: for at most ``SHORT_QUERY`` vocabulary words
    (``n_terms``) and some known ones (``n_known``), each bit the majority of the query's own and those
    of the ``FEEDBACK_DOCUMENTS`` rows of ``codes`` with the highest word scores ``lexical`` above 0 (ties
    by row), a tie of votes keeping the query's bit."""
    rows = np.flatnonzero(lexical > 0)
    if n_known == 0 or n_terms > ranking.SHORT_QUERY or not len(rows):
        return query_code
    best = rows[np.lexsort((rows, -lexical[rows]))][:ranking.FEEDBACK_DOCUMENTS]
    bits = [[(byte >> (7 - i)) & 1 for byte in code for i in range(8)] for code in [query_code, *codes[best]]]
    on = [2 * sum(votes) > len(bits) or (2 * sum(votes) == len(bits) and votes[0] == 1)
          for votes in zip(*bits, strict=True)]
    return np.packbits(np.array(on, dtype=bool))


def document_reference(segment, code, sketch, k, allowed=None, max_distance=None):
    """``ranking.document`` brute force, as (id, distance, score): every allowed row within distance D
    of ``code`` (D the least distance holding ``DOCUMENT_CANDIDATES`` allowed rows; all when fewer)
    by score, ties by row, then the other allowed rows by distance, ties by row."""
    bits, n = segment.index.bits, len(segment)
    distances = codelib.hamming(code, segment.index.codes)
    allowed = np.ones(n, dtype=bool) if allowed is None else allowed
    near = np.sort(distances[allowed])
    reach = bits if len(near) <= ranking.DOCUMENT_CANDIDATES else int(near[ranking.DOCUMENT_CANDIDATES - 1])
    limit = bits if max_distance is None else max_distance
    sketched = np.unpackbits(segment.sketches ^ sketch, axis=1).sum(axis=1)
    weights = ranking.LONG_CODE_WEIGHT, ranking.SKETCH_WEIGHT  # the score as the ranking computes it
    scores = sum(weights) - (2 * weights[0] / bits * distances + 2 * weights[1] / SKETCH_BITS * sketched)
    rows = np.arange(n)
    inside = rows[allowed & (distances <= min(reach, limit))]
    outside = rows[allowed & (distances > reach) & (distances <= limit)]
    best = np.concatenate([inside[np.lexsort((inside, -scores[inside]))],
                           outside[np.lexsort((outside, distances[outside]))]])[:k]
    return [(segment.ids[i], int(distances[i]), round(float(scores[i]), 6)) for i in best]


def query_sketch(searcher, text):
    """The sketch a query is ranked by when it is document-sized."""
    snapshot = searcher._snapshot
    return snapshot.sketcher.query(*snapshot.features.weighted_terms(ANALYZER.terms(text)))


def make_database(backend: str, folder: Path) -> str:
    """A new, empty database: a SQLite file, or a fresh schema on the PostgreSQL test server."""
    if backend == "sqlite":
        return str(folder / f"{uuid.uuid4().hex[:8]}.db")
    if not POSTGRES_URL:
        pytest.skip("HASHSEARCH_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session", autouse=True)
def segment_files(tmp_path_factory) -> Path:
    """Where the tests' openings keep saved segments (``store.segment_files``): a folder of the test
    run's, never the user's cache (subprocesses inherit it)."""
    directory = tmp_path_factory.mktemp("segment-files")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HASHSEARCH_SEGMENT_CACHE", str(directory))
        yield directory


@pytest.fixture(params=BACKENDS)
def new_db(request, tmp_path):
    """Call it to get a new empty database URL (or path) of the parametrized backend."""
    return lambda: make_database(request.param, tmp_path)


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def sample_docs() -> list[dict]:
    return [{"id": p.relative_to(SAMPLE).as_posix(), "text": p.read_text(encoding="utf-8"),
             "topic": p.parent.name} for p in sorted(SAMPLE.rglob("*.txt"))]


@pytest.fixture(scope="session", params=BACKENDS)
def built_db(request, tmp_path_factory, sample_docs) -> str:
    """One small index per backend, shared by read-only tests."""
    db = make_database(request.param, tmp_path_factory.mktemp("index"))
    Searcher.build(sample_docs, db, bits=32, seed=0, **FAST).close()
    return db


@pytest.fixture()
def searcher(built_db):
    with Searcher.open(built_db) as s:
        yield s
