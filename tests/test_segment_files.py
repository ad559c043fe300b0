"""The saved main segment kept as a file on this machine (``store.segment_files``): later openings map
it instead of reading the database's pieces, and a missing, damaged, stale or unwritable file only
means reading the database again."""
import os
import time

import pytest
import sqlalchemy as sa

from hashsearch import Searcher
from hashsearch.store.schema import artifacts_table
from tests.conftest import FAST

QUERIES = ["rocket launch to the moon", "hockey playoff game", "encryption keys"]


def answers(searcher):
    return [[(hit.id, hit.score) for hit in searcher.search(query, k=10)] for query in QUERIES]


def files_of(directory):
    return sorted(path.name for path in directory.iterdir() if path.suffix == ".segment")


def pieces(db, *, delete=False):
    """How many pieces of the saved segment the database holds (after deleting them, its header kept)."""
    url = db if "://" in db else f"sqlite:///{db}"
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    named = artifacts_table.c.name.like("segment.%")
    with engine.begin() as conn:
        if delete:
            conn.execute(sa.delete(artifacts_table).where(named))
        count = conn.execute(sa.select(sa.func.count()).select_from(artifacts_table).where(named)).scalar()
    engine.dispose()
    return count


def delete_pieces(db):
    assert pieces(db, delete=True) == 0


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    """A folder of its own for the test's segment files."""
    directory = tmp_path / "segments"
    monkeypatch.setenv("HASHSEARCH_SEGMENT_CACHE", str(directory))
    return directory


def test_an_opening_maps_this_machines_copy_of_the_saved_segment(new_db, sample_docs, folder):
    db = new_db()
    with Searcher.build(sample_docs[:120], db, bits=32, seed=0, **FAST) as built:
        expected = answers(built)
    assert len(files_of(folder)) == 1  # written when the build's opening saved the segment
    delete_pieces(db)  # so only the file can give the segment
    with Searcher.open(db) as opened:
        assert len(opened) == 120 and answers(opened) == expected
    assert pieces(db) == 0  # not saved anew: the file served the opening
    with Searcher.open(db) as opened:
        opened.refresh()  # everything read anew agrees
        assert answers(opened) == expected


def test_an_opening_without_the_file_reads_the_database_and_writes_it(new_db, sample_docs, folder, monkeypatch):
    db = new_db()
    with Searcher.build(sample_docs[:120], db, bits=32, seed=0, **FAST) as built:
        expected = answers(built)
    (written,) = files_of(folder)
    (folder / written).unlink()  # a machine that never opened this index
    with Searcher.open(db) as opened:
        assert answers(opened) == expected
    assert files_of(folder) == [written]
    monkeypatch.setenv("HASHSEARCH_SEGMENT_CACHE", "off")
    (folder / written).unlink()
    with Searcher.open(db) as opened:
        assert answers(opened) == expected
    assert files_of(folder) == []


@pytest.mark.parametrize("damage", ["cut short", "overwritten"])
def test_a_damaged_file_is_never_used(new_db, sample_docs, folder, damage):
    db = new_db()
    with Searcher.build(sample_docs[:120], db, bits=32, seed=0, **FAST) as built:
        expected = answers(built)
    (path,) = [folder / name for name in files_of(folder)]
    size = path.stat().st_size
    if damage == "cut short":
        os.truncate(path, size // 2)
    else:  # the same size, other bytes: its structure no longer reads
        path.write_bytes(b"\0" * size)
    with Searcher.open(db) as opened:
        assert len(opened) == 120 and answers(opened) == expected
    with Searcher.open(db) as opened:  # the file written again (or the segment saved anew) serves
        assert answers(opened) == expected
    assert len(files_of(folder)) == 1 and (folder / files_of(folder)[0]).read_bytes()[:8] != b"\0" * 8


def test_a_new_save_replaces_this_databases_file_only(new_db, sample_docs, folder):
    first, second = new_db(), new_db()
    Searcher.build(sample_docs[:80], first, bits=32, seed=0, **FAST).close()
    Searcher.build(sample_docs[80:160], second, bits=32, seed=0, **FAST).close()
    before = files_of(folder)
    assert len(before) == 2
    with Searcher.open(first) as searcher:
        searcher.add([{"id": f"new{i}", "text": f"a note about rockets number {i}"} for i in range(40)])
        searcher.refresh()  # everything read anew, saved under a new token
        expected = answers(searcher)
    after = files_of(folder)
    assert len(after) == 2 and len(set(after) & set(before)) == 1  # the second database's file kept
    delete_pieces(first)
    with Searcher.open(first) as opened:
        assert len(opened) == 120 and answers(opened) == expected


def test_a_folder_that_cannot_be_written_only_costs_the_copy(new_db, sample_docs, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "a file, not a folder"
    blocker.write_text("")
    monkeypatch.setenv("HASHSEARCH_SEGMENT_CACHE", str(blocker / "segments"))
    db = new_db()
    with Searcher.build(sample_docs[:120], db, bits=32, seed=0, **FAST) as built:
        expected = answers(built)
    with Searcher.open(db) as opened:
        assert answers(opened) == expected
    assert "could not keep the index's main segment" in caplog.text


def test_the_default_folder_is_under_the_users_cache(monkeypatch, tmp_path):
    from hashsearch.store.segment_files import default_directory

    monkeypatch.delenv("HASHSEARCH_SEGMENT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_directory() == tmp_path / "hashsearch" / "segments"
    monkeypatch.setenv("HASHSEARCH_SEGMENT_CACHE", "OFF")
    assert default_directory() is None


def test_files_no_opening_read_for_a_month_are_deleted(new_db, sample_docs, folder):
    from hashsearch.store.segment_files import UNUSED_DAYS

    first, second = new_db(), new_db()
    Searcher.build(sample_docs[:80], first, bits=32, seed=0, **FAST).close()
    (kept,) = files_of(folder)
    stranger = folder / "0123456789abcdef-feedfacefeedfacefeedfacefeedface.segment"  # an index deleted since
    stranger.write_bytes(b"\0" * 64)
    a_month_ago = time.time() - (UNUSED_DAYS + 1) * 86400
    for path in (folder / kept, stranger):
        os.utime(path, (a_month_ago, a_month_ago))
    Searcher.open(first).close()  # read: kept, as used today
    Searcher.build(sample_docs[80:160], second, bits=32, seed=0, **FAST).close()  # a write prunes
    assert kept in files_of(folder) and stranger.name not in files_of(folder) and len(files_of(folder)) == 2
