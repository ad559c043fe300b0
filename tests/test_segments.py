"""Writes through a searcher update its snapshot in segments (the main one with rows gone, a recent one):
the answers equal those of the same index read anew."""
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from hashsearch import Searcher
from hashsearch.api import snapshot
from hashsearch.index import codes as codelib
from hashsearch.index import ranking
from hashsearch.index.code_index import CodeIndex
from hashsearch.index.parts import Part, nearest
from hashsearch.index.probing import ProbeStrategy
from hashsearch.index.segment import Segment
from hashsearch.store import scanning, storage
from hashsearch.store.schema import artifacts_table
from tests.conftest import FAST, SCANS, query_positions, use_scan

QUERIES = ["rocket launch to the moon", "encryption keys and the clipper chip", "hockey playoff game",
           "gun control laws", "prayer and faith", "zqxv"]
FILTERS = [None, {"topic": "sci.space"}, {"topic": {"$ne": "sci.space"}}, {"fresh": True}, {"n": {"$gte": 5}},
           {"$or": [{"fresh": {"$ne": True}}, {"n": {"$lt": 3}}]}]


def read_anew(db):
    """The index as one segment of everything stored, the reference for a searcher in segments."""
    searcher = Searcher.open(db)
    searcher.refresh()
    return searcher


def saved(store):
    """(last change it holds, bytes) of the main segment saved in ``store``."""
    change_seq = store.read_saved_segment_seq()
    return change_seq, store.read_saved_segment(change_seq)


@pytest.fixture(scope="module")
def built_base(tmp_path_factory, sample_docs) -> Path:
    """The SQLite index ``written`` starts from, built once: each test writes to a copy of its file."""
    path = tmp_path_factory.mktemp("base") / "base.db"
    Searcher.build(sample_docs[:-60], str(path), bits=32, seed=0, **FAST).close()
    return path


@pytest.fixture()
def written(new_db, sample_docs, built_base, monkeypatch):
    """An index built from most posts, then, through the same searcher: 40 more added (with fields the
    built ones lack), 10 built ones changed, 10 built and 5 added ones removed (kept in segments: a
    sample-sized index would otherwise merge once 5% of it changed)."""
    monkeypatch.setattr(snapshot, "STATISTICS_SHARE", 1.0)
    db = new_db()
    base, later = sample_docs[:-60], sample_docs[-60:]
    if "://" in db:
        searcher = Searcher.build(base, db, bits=32, seed=0, **FAST)
    else:  # a copy of the file of the same build
        shutil.copyfile(built_base, db)
        searcher = Searcher.open(db)
    searcher.add([{**doc, "fresh": True, "n": i} for i, doc in enumerate(later[:40])])
    searcher.add([{**doc, "text": doc["text"] + "\nA rocket to Mars, with hockey on board."} for doc in base[:10]])
    removed = [doc["id"] for doc in base[10:20] + later[:5]]
    searcher.remove(removed)
    with searcher:
        yield searcher, db, removed


def test_writes_leave_a_recent_segment_and_gone_rows(written):
    searcher, _, _ = written
    state = searcher._snapshot
    assert state.recent is not None and len(state.recent) == 45  # 35 added, 10 changed
    assert state.gone == 20 and int((~state.live).sum()) == 20  # 10 changed, 10 removed
    assert len(searcher) == len(state.main) - 20 + 45


@pytest.mark.parametrize("where", FILTERS)
def test_hamming_answers_equal_the_index_read_anew(written, where):
    searcher, db, _ = written
    with read_anew(db) as reopened:
        assert reopened._snapshot.recent is None
        for text in QUERIES:
            for k, offset, max_distance in ((1, 0, None), (10, 0, None), (10, 10, None), (300, 0, None),
                                            (20, 0, 12)):
                options = dict(mode="hamming", where=where, offset=offset, max_distance=max_distance)
                assert searcher.search(text, k, **options) == reopened.search(text, k, **options)


@pytest.mark.parametrize("candidates", [ranking.DOCUMENT_CANDIDATES, 30])
@pytest.mark.parametrize("scan", SCANS)
def test_document_sized_answers_equal_the_index_read_anew(written, sample_docs, candidates, scan, monkeypatch):
    """Codes and sketches do not depend on the split: every answer is the one-segment answer."""
    monkeypatch.setattr(ranking, "DOCUMENT_CANDIDATES", candidates)
    use_scan(scan, monkeypatch)
    searcher, db, _ = written
    features = searcher._snapshot.features
    texts = [doc["text"] for doc in sample_docs[::8] + sample_docs[-60::3]
             if ranking.is_document(features.transform([doc["text"]]).nnz)]
    assert len(texts) >= 10
    with read_anew(db) as reopened:
        for text in texts:
            for k, offset, where in ((10, 0, None), (50, 0, None), (10, 10, None), (10, 0, {"fresh": True}),
                                     (20, 0, {"topic": {"$ne": "sci.space"}})):
                assert searcher.search(text, k, offset=offset, where=where) == reopened.search(
                    text, k, offset=offset, where=where)
        ids = reopened._snapshot.main.ids.tolist()
        for doc_id in ids[::40]:
            assert searcher.similar(doc_id, k=15) == reopened.similar(doc_id, k=15)


def test_counts_fields_and_documents_equal_the_index_read_anew(written):
    searcher, db, removed = written
    with read_anew(db) as reopened:
        assert len(searcher) == len(reopened)
        ours, theirs = searcher.info(), reopened.info()
        for name in ("documents", "metadata_fields", "bit_on_share", "distinct_codes", "largest_bucket",
                     "bucket_size_histogram"):
            assert ours[name] == theirs[name], name
        some = [removed[0], "sci.space/62477.txt", *[h.id for h in reopened.search("rocket", k=20)]]
        assert searcher.get(some) == reopened.get(some)
        for doc_id in [h.id for h in reopened.search("hockey", k=5, where={"fresh": True})]:
            assert searcher.similar(doc_id, k=8, mode="hamming") == reopened.similar(doc_id, k=8, mode="hamming")


def test_the_default_ranking_finds_written_documents_and_never_removed_ones(written, sample_docs):
    searcher, _, removed = written
    for doc in sample_docs[-55:-20]:  # added and kept
        assert searcher.search(doc["text"], k=1, snippets=False)[0].id == doc["id"]
    for doc in sample_docs[:10]:  # changed: found by the new text
        assert searcher.search(doc["text"] + "\nA rocket to Mars, with hockey on board.", k=1)[0].id == doc["id"]
    gone = set(removed)
    for doc in sample_docs:
        if doc["id"] in gone:
            assert not gone & {h.id for h in searcher.search(doc["text"], k=50, snippets=False)}
    hits = searcher.search("rocket", k=400, where={"fresh": True}, snippets=False)
    assert len(hits) == 35 and all(h.id not in gone for h in hits)
    scores = [h.score for h in searcher.search("hockey playoff game", k=100)]
    assert scores == sorted(scores, reverse=True)


def test_a_write_past_the_merge_threshold_reads_everything_into_one_segment(new_db, sample_docs, monkeypatch):
    monkeypatch.setattr(snapshot, "MERGE_MIN", 10)
    with Searcher.build(sample_docs[:-30], new_db(), bits=32, seed=0, **FAST) as searcher:
        searcher.add(sample_docs[-30:-25])
        assert searcher._snapshot.recent is not None
        searcher.add(sample_docs[-25:])
        assert searcher._snapshot.recent is None and searcher._snapshot.live is None
        assert len(searcher) == len(sample_docs)


def test_small_writes_past_the_merge_threshold_merge_in_the_background(new_db, sample_docs, monkeypatch):
    """Writes go on while the merge reads everything; those it missed are replayed when it ends."""
    monkeypatch.setattr(snapshot, "MERGE_MIN", 10)
    read_done, release = threading.Event(), threading.Event()
    read = snapshot.Snapshot.read.__func__

    def read_then_wait(cls, *args, **kwargs):
        merged = read(cls, *args, **kwargs)
        if threading.current_thread().name == "hashsearch-merge":
            read_done.set()
            assert release.wait(30)
        return merged

    monkeypatch.setattr(snapshot.Snapshot, "read", classmethod(read_then_wait))
    db = new_db()
    with Searcher.build(sample_docs[:-20], db, bits=32, seed=0, **FAST) as searcher:
        for doc in sample_docs[-20:-9]:  # the eleventh one-document write passes 10
            searcher.add([doc])
        assert read_done.wait(30)
        searcher.add(sample_docs[-9:])  # answered while the merge waits
        searcher.remove([sample_docs[0]["id"]])
        assert len(searcher._snapshot.recent) == 20 and searcher._merging.is_alive()
        assert searcher.search(sample_docs[-1]["text"], k=1)[0].id == sample_docs[-1]["id"]
        release.set()
        searcher._merging.join()
        state = searcher._snapshot
        assert len(state.main) == len(sample_docs) - 9 and len(state.recent) == 9 and state.gone == 1
        with read_anew(db) as reopened:
            assert len(searcher) == len(reopened) == len(sample_docs) - 1
            for text in QUERIES:
                assert searcher.search(text, k=40, mode="hamming") == reopened.search(text, k=40, mode="hamming")


def test_a_write_catches_up_with_another_process_s_writes_too(new_db, sample_docs):
    db = new_db()
    Searcher.build(sample_docs[:-2], db, bits=32, seed=0, **FAST).close()
    with Searcher.open(db) as first, Searcher.open(db) as second:
        main = second._snapshot.main
        first.add(sample_docs[-2:-1])
        second.add(sample_docs[-1:])  # its snapshot predates first's write: the change log brings it
        assert second._snapshot.main is main and len(second._snapshot.recent) == 2
        assert len(second) == len(sample_docs)
        assert second.search(sample_docs[-2]["text"], k=1)[0].id == sample_docs[-2]["id"]


def test_a_refresh_applies_another_process_s_changes_from_the_log(new_db, sample_docs, monkeypatch):
    monkeypatch.setattr(snapshot, "STATISTICS_SHARE", 1.0)  # 25 changes stay in segments
    db = new_db()
    Searcher.build(sample_docs[:-20], db, bits=32, seed=0, **FAST).close()
    with Searcher.open(db) as writer, Searcher.open(db) as reader:
        main = reader._snapshot.main
        assert not reader.refresh_if_changed()
        writer.add([{**doc, "fresh": True} for doc in sample_docs[-20:]])
        writer.remove([doc["id"] for doc in sample_docs[:5]])
        writer.add([{**sample_docs[-1], "text": "changed again: rocket hockey"}])
        assert reader.refresh_if_changed() and reader._snapshot.main is main
        with read_anew(db) as reopened:
            assert len(reader) == len(reopened)
            for text in QUERIES:
                for where in (None, {"fresh": True}):
                    options = dict(k=30, mode="hamming", where=where)
                    assert reader.search(text, **options) == reopened.search(text, **options)
        assert reader.search("changed again: rocket hockey", k=1)[0].id == sample_docs[-1]["id"]


def test_concurrent_writers_log_every_change_for_a_reader(new_db, sample_docs, monkeypatch):
    """Two writers (each its own connections, as two processes) add and remove at once; a reader that
    catches up from the log ends with exactly the index read anew."""
    monkeypatch.setattr(snapshot, "STATISTICS_SHARE", 1.0)  # the reader catches up in segments
    db = new_db()
    Searcher.build(sample_docs[:300], db, bits=32, seed=0, **FAST).close()
    with Searcher.open(db) as reader, Searcher.open(db) as one, Searcher.open(db) as two:
        def write(searcher, docs, removed):
            for doc, gone in zip(docs, removed, strict=False):
                searcher.add([doc])
                searcher.remove([gone])

        with ThreadPoolExecutor(2) as pool:
            for result in [pool.submit(write, one, sample_docs[300:350], [d["id"] for d in sample_docs[:50]]),
                           pool.submit(write, two, sample_docs[350:400], [d["id"] for d in sample_docs[50:100]])]:
                result.result()
        assert reader.refresh_if_changed() and reader._snapshot.recent is not None
        with read_anew(db) as reopened:
            assert len(reader) == len(reopened) == 300
            for text in QUERIES:
                assert reader.search(text, k=40, mode="hamming") == reopened.search(text, k=40, mode="hamming")


def test_a_refresh_after_a_rebuild_or_a_write_too_large_to_log_reads_everything(new_db, sample_docs, monkeypatch):
    db = new_db()
    Searcher.build(sample_docs[:100], db, bits=32, seed=0, **FAST).close()
    with Searcher.open(db) as reader:
        monkeypatch.setattr(storage, "CHANGE_LOG_ROWS", 10)
        with Searcher.open(db) as writer:
            writer.add(sample_docs[100:120])  # more ids than the log keeps: it starts over
        assert reader.refresh_if_changed() and reader._snapshot.recent is None and len(reader) == 120
        Searcher.build(sample_docs[:50], db, bits=16, seed=0, **FAST).close()
        assert reader.refresh_if_changed() and reader.bits == 16 and len(reader) == 50


@pytest.mark.parametrize("excluded", [0, 3, 40, 200, 1000, 3000, 3990])  # past 250 (1/16): the balls' allowed rows
@pytest.mark.parametrize("enough", [None, 10])
@pytest.mark.parametrize("probe_cost", [0.0, None])  # 0: always probe the balls; None: the default (scans)
def test_a_search_past_a_few_excluded_rows_equals_the_scan_of_the_allowed(excluded, enough, probe_cost):
    rng = np.random.default_rng(excluded)
    codes = rng.integers(0, 256, size=(4000, 4), dtype=np.uint8)
    codes[:3] = codes[0]  # a small bucket in a crowded radius-1 ball, so that balls answer early
    codes[3:300] = codes[0] ^ (1 << rng.integers(0, 8, (297, 1))).astype(np.uint8)
    strategy = (None if probe_cost is None
                else ProbeStrategy(probe_cost_in_codes=probe_cost, probe_overhead_in_codes=0.0))
    index = CodeIndex(codes, 32, strategy=strategy)
    allowed = np.ones(len(codes), dtype=bool)
    pool = np.r_[0:300:2, 300:4000:7] if excluded <= 200 else np.arange(len(codes))
    allowed[rng.choice(pool, excluded, replace=False)] = False
    part = Part(Segment(np.arange(len(codes)).astype(object), np.arange(len(codes), dtype=np.uint64), index,
                        None, None, None), allowed, excluded)
    for query in [codes[0], codes[5], codes[700], rng.integers(0, 256, 4, dtype=np.uint8)]:
        distances = codelib.hamming(query, codes)
        order = [row for row in np.lexsort((np.arange(len(codes)), distances)) if allowed[row]]
        for k in (1, 10, 100, 400):
            rows, found = nearest(part, query, k, 2, None, enough=enough)
            assert len(rows) >= min(k, enough or k, int(allowed.sum()))
            assert rows.tolist() == order[:len(rows)] and found.tolist() == distances[rows].tolist()


def test_an_index_opens_from_its_saved_segment_and_the_changes_since(written):
    """No document is read again: the main segment saved at the build, the logged writes replayed."""
    searcher, db, _ = written
    with Searcher.open(db) as opened:
        state, writer = opened._snapshot, searcher._snapshot
        assert len(state.recent) == 45 and state.gone == 20 and np.array_equal(state.main.ids, writer.main.ids)
        for text in QUERIES:
            for where in FILTERS:
                assert opened.search(text, k=20, where=where) == searcher.search(text, k=20, where=where)


def test_a_saved_segment_is_the_segment_it_saved(new_db, sample_docs):
    from tests.test_filters import with_metadata
    with Searcher.build(with_metadata(sample_docs[:300]), new_db(), bits=32, seed=0, **FAST) as searcher:
        main = searcher._snapshot.main
        saved = Segment.from_bytes(main.to_bytes(), 32)
    assert saved.ids.tolist() == main.ids.tolist() and np.array_equal(saved.keys, main.keys)
    assert np.array_equal(saved.index.codes, main.index.codes)
    assert np.array_equal(saved.index.rows_by_key, main.index.rows_by_key)
    assert np.array_equal(saved.index.rows_by_key, CodeIndex(main.index.codes, 32).rows_by_key)  # as made afresh
    assert saved.words.arrays().keys() == main.words.arrays().keys()
    for name, array in main.words.arrays().items():
        assert np.array_equal(saved.words.arrays()[name], array), name
    assert saved.columns.fields == main.columns.fields
    for where in ({"n": 3}, {"score": {"$gte": 10.5}}, {"even": True}, {"tags": {"$in": ["t1", "sci.space"]}},
                  {"rare": {"$ne": "yes"}}, {"$or": [{"n": {"$lt": 2}}, {"even": False}]}):
        assert np.array_equal(saved.columns.mask(where), main.columns.mask(where)), where
    assert Segment.from_bytes(main.to_bytes(), 64) is None  # saved for other codes
    data = main.to_bytes()
    assert Segment.from_bytes(data[:len(data) // 2], 32) is None  # damaged: read anew instead
    assert Segment.from_bytes(b"not an archive", 32) is None
    from dataclasses import replace

    from hashsearch.index.ids import IdColumn
    cut = replace(main, ids=IdColumn(main.ids.data[:-1], main.ids.ends))  # ids that end past their bytes
    assert Segment.from_bytes(cut.to_bytes(), 32) is None


def test_a_rebuilt_index_never_opens_from_a_segment_saved_before(new_db, sample_docs):
    db = new_db()
    with Searcher.build(sample_docs[:100], db, bits=32, seed=0, **FAST) as first:
        stale = saved(first._storage)
    with Searcher.build(sample_docs[100:150], db, bits=32, seed=1, **FAST) as second:
        second._storage.write_saved_segment(*stale)  # as if a slow process saved it after the rebuild
    with Searcher.open(db) as opened:
        assert sorted(opened._snapshot.main.ids) == sorted(doc["id"] for doc in sample_docs[100:150])
        assert saved(opened._storage)[0] > stale[0]  # and saved anew


def test_a_segment_saved_in_another_format_is_replaced(new_db, sample_docs, monkeypatch):
    from hashsearch.index import segment
    db = new_db()
    Searcher.build(sample_docs[:100], db, bits=32, seed=0, **FAST).close()
    monkeypatch.setattr(segment, "SAVED_FORMAT", segment.SAVED_FORMAT + 1)  # a newer hashsearch opens it
    with Searcher.open(db) as opened:
        assert len(opened) == 100
        data = saved(opened._storage)[1]
    assert Segment.from_bytes(data, 32) is not None  # saved in the newer format


def test_an_index_this_process_may_not_write_still_opens(built_db, monkeypatch, caplog):
    import sqlalchemy as sa

    def refuse(*_args):
        raise sa.exc.OperationalError("INSERT", None, Exception("attempt to write a readonly database"))

    monkeypatch.setattr(storage.Storage, "read_saved_segment_seq", lambda _self: -1)
    monkeypatch.setattr(storage.Storage, "write_saved_segment", refuse)
    with Searcher.open(built_db) as opened:
        opened.refresh()
        assert opened.search("rocket launch", k=5)
    assert "could not save the index's main segment" in caplog.text


def test_a_damaged_saved_segment_is_replaced(new_db, sample_docs):
    db = new_db()
    with Searcher.build(sample_docs[:100], db, bits=32, seed=0, **FAST) as built:
        seq, _ = saved(built._storage)
        built._storage.write_saved_segment(seq, b"PK\x03\x04 damaged")
    with Searcher.open(db) as opened:
        assert len(opened) == 100 and opened.search("car engine", k=3)
        assert Segment.from_bytes(saved(opened._storage)[1], 32) is not None


def test_a_saved_segment_in_many_pieces_reads_back_whole_or_not_at_all(new_db, sample_docs, monkeypatch):
    """Pieces of a few hundred bytes (PostgreSQL reads them on two connections at once): read back, they
    join into the bytes saved, in order; with one piece gone (a save replaced meanwhile) the read is None."""
    db = new_db()
    with Searcher.build(sample_docs[:100], db, bits=32, seed=0, **FAST) as built:
        store = built._storage
        monkeypatch.setattr(store, "_segment_files", None)  # no copy on this machine: the pieces are read
        seq, _ = saved(store)
        data = bytes(range(256)) * 37 + b"end"  # 9,475 bytes: 19 pieces, the last short
        monkeypatch.setattr(storage, "SEGMENT_CHUNK_BYTES", 500)
        store.write_saved_segment(seq, data)
        assert bytes(store.read_saved_segment(seq)) == data
        if db.startswith("postgresql"):  # a piece deleted after the pieces were listed, before it is read
            read_named = scanning._read_named

            def deleting_first(engine, table, names, put):
                with engine.begin() as conn:
                    conn.execute(sa.delete(artifacts_table).where(artifacts_table.c.name == names[-1]))
                return read_named(engine, table, names, put)

            monkeypatch.setattr(scanning, "_read_named", deleting_first)
            assert store.read_saved_segment(seq) is None
            monkeypatch.undo()
            monkeypatch.setattr(storage, "SEGMENT_CHUNK_BYTES", 500)
            monkeypatch.setattr(store, "_segment_files", None)
            store.write_saved_segment(seq, data)
        with store.transaction() as conn:
            conn.execute(sa.delete(artifacts_table).where(artifacts_table.c.name == f"segment.{seq}.7"))
        assert store.read_saved_segment(seq) is None


def test_word_scores_after_writes_equal_a_fresh_build_of_the_same_documents(new_db, sample_docs):
    """30 long posts indexed, then 400 short notes holding "writer" added in two writes: the notes' word
    scores are those a build over all of them gives (the index merged once 5% of it changed), so that
    the notes rank first for "writer" whatever order the documents came in."""
    notes = [{"id": f"note-{i}", "text": f"The writer of note {i} signs it."} for i in range(400)]
    with Searcher.build(sample_docs[:30], new_db(), bits=32, seed=0, **FAST) as grown:
        grown.add(notes[:200])
        grown.add(notes[200:])
        with Searcher.build(sample_docs[:30] + notes, new_db(), bits=32, seed=0, **FAST) as fresh:
            for text in ["writer", "writer signs note"]:
                words_grown, words_fresh = grown._snapshot.main.words, fresh._snapshot.main.words
                assert grown._snapshot.recent is None and len(grown) == len(fresh) == 430
                for index, other in ((words_grown, words_fresh), (words_fresh, words_grown)):
                    assert index.n_documents == other.n_documents and index.mean_length_ == other.mean_length_
                got, want = ({segment.ids[row]: score for row, score in zip(*words.scores(
                    query_positions(words, text)[0]), strict=True)} for segment, words in (
                    (grown._snapshot.main, words_grown), (fresh._snapshot.main, words_fresh)))
                assert got == want
            assert all(hit.id.startswith("note-") for hit in grown.search("writer", k=10))
