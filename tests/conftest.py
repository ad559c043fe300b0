from pathlib import Path

import pytest

from hashsearch import Searcher

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
FAST = {"epochs": 3, "hidden": 64}  # enough training to exercise every path; quality is tested separately


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def sample_docs() -> list[dict]:
    return [{"id": p.relative_to(SAMPLE).as_posix(), "text": p.read_text(encoding="utf-8"),
             "topic": p.parent.name} for p in sorted(SAMPLE.rglob("*.txt"))]


@pytest.fixture(scope="session")
def built_db(tmp_path_factory, sample_docs) -> Path:
    """One small index shared by read-only tests."""
    db = tmp_path_factory.mktemp("index") / "sample.db"
    Searcher.build(sample_docs, db, bits=32, seed=0, **FAST).close()
    return db


@pytest.fixture()
def searcher(built_db):
    with Searcher.open(built_db) as s:
        yield s
