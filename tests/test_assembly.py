"""The segment an index opens with, assembled from stored rows in batches (two passes, postings sorted
and cut a buffer at a time), is the one ``Segment.build`` makes of all the rows at once."""
import json

import numpy as np
import pytest

from hashsearch import Searcher
from hashsearch.index.assembly import assemble_segment
from hashsearch.index.postings import Pairs, PostingsBuilder
from hashsearch.index.rows import LookupRows
from hashsearch.index.segment import Segment
from hashsearch.index.words import WordIndex
from hashsearch.store.storage import Storage
from tests.conftest import FAST


@pytest.fixture(scope="module")
def stored(tmp_path_factory, sample_docs):
    """The sample's stored rows and its searcher's sketcher; metadata of several kinds, some absent."""
    db = tmp_path_factory.mktemp("assembly") / "index.db"
    docs = [{**d, "year": 1990 + i % 7, **({"tags": ["a", str(i % 3)]} if i % 5 else {"lang": "en"}),
             **({"mixed": [1, "1", True, None, 2.5][i % 5]} if i % 2 else {})} for i, d in enumerate(sample_docs)]
    with Searcher.build(docs, db, bits=32, **FAST) as searcher:
        sketcher = searcher._snapshot.sketcher
    storage = Storage.open(db)
    rows = storage.read_lookup()
    storage.close()
    return rows, sketcher


def batches(rows: LookupRows, size: int, *, reverse: bool = False):
    """``rows`` as a scan yields them: ``size`` at a time (reversed: in the other order)."""
    order = np.arange(len(rows.ids))[::-1] if reverse else np.arange(len(rows.ids))
    width = len(rows.codes) // len(rows.ids)
    codes = rows.codes.reshape(len(rows.ids), width)
    for start in range(0, len(order), size):
        at = order[start:start + size].tolist()
        yield LookupRows([rows.ids[i] for i in at], codes[at].reshape(-1), [rows.words[i] for i in at],
                         [rows.metadata[i] for i in at])


def assert_same_segment(a: Segment, b: Segment) -> None:
    assert a.ids.tolist() == b.ids.tolist()
    for name in ("keys", "sketches"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert np.array_equal(a.index.codes, b.index.codes)
    for kind in ("words", "columns"):
        left, right = getattr(a, kind).arrays(), getattr(b, kind).arrays()
        assert left.keys() == right.keys()
        for name in left:
            same = np.array_equal(left[name], right[name], equal_nan=left[name].dtype.kind == "f")
            assert left[name].dtype == right[name].dtype and same, (kind, name)


@pytest.mark.parametrize("batch", [7, 64, 1000])
def test_assembled_segment_is_the_one_built_at_once(stored, batch):
    rows, sketcher = stored
    whole = Segment.build(rows, 32, sketcher)
    passes = iter([False, True])  # the second pass reads the rows in another order: found by id
    assembled = assemble_segment(lambda: batches(rows, batch, reverse=next(passes)), 32, sketcher,
                                 buffer_pairs=500)
    assert_same_segment(assembled, whole)
    assert json.loads(rows.metadata[1]).keys() <= set(assembled.columns.fields)


def test_assembling_nothing_gives_an_empty_segment(stored):
    _, sketcher = stored
    empty = assemble_segment(lambda: iter(()), 32, sketcher)
    assert len(empty) == 0 and empty.words.n_documents == 0 and empty.index.codes.shape == (0, 4)


@pytest.mark.parametrize("limit", [1, 3, 40])
@pytest.mark.parametrize("buffer_pairs", [1, 997, 10**9])
def test_postings_cut_a_buffer_at_a_time_equal_one_sort(stored, limit, buffer_pairs):
    """Fed in batches of 37 documents with small buffers (so cut lists merge many times) and short
    lists (so most words are cut), the postings equal those of one sort of every pair."""
    rows, _ = stored
    numbering = np.random.default_rng(3).permutation(len(rows.words))
    whole = WordIndex(rows.words, numbering, postings_per_word=limit).arrays()
    lengths = Pairs(rows.words).lengths()
    builder = PostingsBuilder(len(rows.words), max(float(lengths.mean()), 1.0), limit=limit,
                              buffer_pairs=buffer_pairs)
    for start in range(0, len(rows.words), 37):
        builder.add(Pairs(rows.words[start:start + 37]), numbering[start:start + 37])
    built = builder.finish()
    for name in built:
        assert np.array_equal(built[name], whole[name]), name
    assert (np.diff(built["starts"]) <= limit).all() and int(built["df"].max()) > limit


def test_an_index_opened_afresh_reads_its_rows_in_batches(new_db, sample_docs, monkeypatch):
    """Opening without a saved segment scans the stored rows in batches, twice, in one read snapshot,
    and answers as the index built at once."""
    import hashsearch.store.scanning as scanning

    db = new_db()
    with Searcher.build(sample_docs, db, bits=32, **FAST) as built:
        expected = [[h.id for h in built.search(d["text"], k=5)] for d in sample_docs[::50]]
    storage = Storage.open(db)
    with storage.transaction() as conn:
        storage._delete_saved_segment(conn)
    storage.close()
    monkeypatch.setattr(scanning, "SCAN_BATCH_ROWS", 64)
    with Searcher.open(db) as opened:
        assert [[h.id for h in opened.search(d["text"], k=5)] for d in sample_docs[::50]] == expected


def test_packed_arrays_come_back_as_read_only_views():
    from hashsearch.index import packing

    arrays = {"a": np.arange(10, dtype=np.int32), "b": np.zeros((0, 16), dtype=np.uint8),
              "c": np.array([[1.5, np.nan]]), "d": np.array([2**63 + 1], dtype=np.uint64)}
    data = packing.pack(arrays, {"format": 1})
    meta, back = packing.unpack(data)
    assert meta == {"format": 1} and back.keys() == arrays.keys()
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape
        assert np.array_equal(back[name], array, equal_nan=True) and not back[name].flags.writeable
    assert packing.unpack(data[:len(data) - 8]) is None  # cut short
    assert packing.unpack(b"PK\x03\x04 an npz archive") is None and packing.unpack(b"") is None


@pytest.mark.slow
def test_postgresql_keeps_the_saved_segment_uncompressed_and_texts_in_lz4(sample_docs, tmp_path):
    """The saved segment's pieces (dense numbers) are stored as they are: read at an opening without
    decompressing; documents' texts are compressed with LZ4 where the server has it."""
    import sqlalchemy as sa

    from hashsearch.store.storage import database_url
    from tests.conftest import make_database

    db = make_database("postgresql", tmp_path)
    Searcher.build(sample_docs[:60], db, bits=32, **FAST).close()
    Storage.create(db).close()  # again: nothing to change
    engine = sa.create_engine(database_url(db))
    with engine.connect() as conn:
        storage = conn.execute(sa.text("SELECT attstorage FROM pg_attribute WHERE attname = 'data' AND "
                                       "attrelid = 'hashsearch_artifacts'::regclass")).scalar()
        has_lz4 = conn.execute(sa.text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                                       "WHERE name = 'default_toast_compression'")).scalar()
        compression = conn.execute(sa.text("SELECT attcompression FROM pg_attribute WHERE attname = 'text' AND "
                                           "attrelid = 'hashsearch_documents'::regclass")).scalar()
    engine.dispose()
    assert storage == "e" and compression == ("l" if has_lz4 else "")
    long_text = " ".join(doc["text"] for doc in sample_docs[60:70])  # past the size PostgreSQL compresses at
    with Searcher.open(db) as opened:
        assert len(opened) == 60
        opened.add([{"id": "long", "text": long_text}])
        assert opened.get(["long"])[0].text == long_text
