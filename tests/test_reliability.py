"""Crashes, concurrent writers and bad input must never damage an index."""
import json
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import sqlalchemy as sa

from hashsearch import CorpusError, IndexFormatError, Searcher
from hashsearch.store.schema import FORMAT_VERSION
from hashsearch.store.storage import Storage
from tests.conftest import FAST


def stored_state(db):
    """(set of ids, whether every stored code is what the stored model makes of the stored text)."""
    with Searcher.open(db) as searcher:
        storage = Storage.open(db)
        ids, codes = storage.read_lookup()[:2]
        texts = {doc_id: text for doc_id, (text, _) in storage.read_documents(ids[:200]).items()}
        storage.close()
        codes = codes.reshape(len(ids), -1)
        sample = ids[:200]
        consistent = np.array_equal(searcher.encode([texts[i] for i in sample]), codes[:len(sample)])
        assert searcher.search("space shuttle", k=5)
    return set(ids), consistent


def synthetic_docs(sample_docs, n, seed):
    rng = random.Random(seed)
    words = " ".join(d["text"] for d in sample_docs[:100]).split()
    return [{"id": f"synthetic/{seed}/{i}", "text": " ".join(rng.choices(words, k=150))} for i in range(n)]


@pytest.fixture(scope="module")
def crash_setup(tmp_path_factory, sample_docs):
    folder = tmp_path_factory.mktemp("crash")
    base = folder / "base.db"
    Searcher.build(sample_docs[:200], base, bits=32, **FAST).close()
    batch = folder / "batch.jsonl"
    # 5,200 documents: a build over the index (index --retrain) stores three batches before it commits.
    new_docs = sample_docs[200:] + synthetic_docs(sample_docs, 5000, seed=1)
    batch.write_text("".join(json.dumps(d) + "\n" for d in new_docs), encoding="utf-8")
    old_ids = {d["id"] for d in sample_docs[:200]}
    return folder, base, batch, old_ids, {d["id"] for d in new_docs}


def run_cli(args, db, kill_after=None):
    command = [sys.executable, "-m", "hashsearch", *args, "--db", str(db)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if kill_after is None:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()
        return time.perf_counter() - started
    time.sleep(kill_after)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    return None


@pytest.mark.slow
@pytest.mark.parametrize("command", ["add", "index-retrain", "remove"])
def test_kill_9_at_any_moment_leaves_old_or_new_state(crash_setup, command):
    folder, base, batch, old_ids, batch_ids = crash_setup
    removed = sorted(old_ids)[:150]
    args, new_ids = {
        "add": (["add", str(batch), "-q"], old_ids | batch_ids),
        "index-retrain": (["index", str(batch), "--retrain", "--epochs", "1", "-q"], batch_ids),
        "remove": (["remove", *removed], old_ids - set(removed)),
    }[command]
    calibration = folder / f"{command}-full.db"
    shutil.copy(base, calibration)
    full_run = run_cli(args, calibration)
    assert stored_state(calibration) == (new_ids, True)
    outcomes = set()
    for fraction in (0.3, 0.6, 0.8, 0.95):
        db = folder / f"{command}-{fraction}.db"
        shutil.copy(base, db)
        run_cli(args, db, kill_after=full_run * fraction)
        ids, consistent = stored_state(db)
        assert consistent
        assert ids in (old_ids, new_ids), f"killed at {fraction:.0%}: a mix of old and new state"
        outcomes.add(ids == new_ids)
    assert False in outcomes  # the early kills really interrupted the command


@pytest.mark.slow
def test_searches_during_writes_see_only_existing_documents(new_db, sample_docs):
    db = new_db()
    base = sample_docs[:300]
    extra = sample_docs[300:]
    known = {d["id"] for d in sample_docs}
    failures: list[BaseException] = []
    stop = threading.Event()
    with Searcher.build(base, db, bits=32, **FAST) as searcher:
        def reader():
            try:
                while not stop.is_set():
                    for hit in searcher.search("hockey game and the playoffs", k=50):
                        assert hit.id in known and hit.snippet
            except BaseException as exc:  # collected and re-raised in the main thread
                failures.append(exc)

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for thread in threads:
            thread.start()
        for round_ in range(5):
            searcher.add(extra[round_ * 20:(round_ + 1) * 20])
            searcher.remove([d["id"] for d in extra[round_ * 20:round_ * 20 + 10]])
        stop.set()
        for thread in threads:
            thread.join()
        assert not failures, failures[0]
        assert len(searcher) == 300 + 5 * 10


@pytest.mark.slow
def test_bad_documents_never_poison_the_index(tmp_path, new_db, sample_docs):
    db = new_db()
    with Searcher.build(sample_docs[:100], db, bits=32, **FAST) as searcher:
        before = searcher.search_many(["space", "cars"], k=10)
        folder = tmp_path / "incoming"
        folder.mkdir()
        (folder / "binary.txt").write_bytes(bytes(range(256)) * 10)
        (folder / "latin1.txt").write_bytes("caf\xe9 au lait, cr\xe8me".encode("latin-1"))
        (folder / "empty.txt").write_text("")
        (folder / "huge.txt").write_text("orbit rocket launch " * (50 * 1024 * 1024 // 20))
        report = searcher.add(folder)
        assert (report.added, report.skipped_binary, report.skipped_empty) == (2, ["binary.txt"], ["empty.txt"])
        distances = {hit.id: hit.distance for hit in searcher.search("orbit rocket launch", k=200)}
        assert distances["huge.txt"] == 0  # same words, same TF-IDF direction, same code
        searcher.remove(["huge.txt", "latin1.txt"])

        broken = tmp_path / "broken.jsonl"
        broken.write_text('{"id": "ok-1", "text": "fine"}\n{"id": "ok-2", "text": "also fine"\n', encoding="utf-8")
        with pytest.raises(CorpusError, match=rf"^{broken}, line 2: not valid JSON"):
            searcher.add(broken)
        with pytest.raises(CorpusError, match=r"duplicate id 'twice'"):
            searcher.add([{"id": "twice", "text": "a"}, {"id": "twice", "text": "b"}])
        assert len(searcher) == 100
        assert searcher.search_many(["space", "cars"], k=10) == before
    with Searcher.open(db) as reopened:
        assert len(reopened) == 100 and reopened.search_many(["space", "cars"], k=10) == before


def test_newer_format_version_is_refused(tmp_path, sample_docs):
    db = tmp_path / "future.db"
    Searcher.build(sample_docs[:30], db, bits=16, **FAST).close()
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE hashsearch_meta SET value = '99' WHERE key = 'format_version'"))
    engine.dispose()
    with pytest.raises(IndexFormatError, match=r"newer hashsearch \(format 99; this version reads up to 5\)"):
        Searcher.open(db)


# Each older version's tables, made from a current index: no changes table up to version 4, a term
# vector column on the documents up to version 3, no snippets table, no lookup table in version 1 and no
# word counts in its table in version 2.
OLDER_CHANGES = ["DROP TABLE hashsearch_changes", "DELETE FROM hashsearch_meta WHERE key = 'log_start'"]
OLDER_DOCUMENTS = OLDER_CHANGES + ["ALTER TABLE hashsearch_documents ADD COLUMN vector bytea",
                                   "DROP TABLE hashsearch_snippets"]


OLDER_VERSIONS = [
    (1, OLDER_DOCUMENTS + ["DROP TABLE hashsearch_lookup"]),
    (2, OLDER_DOCUMENTS + ["ALTER TABLE hashsearch_lookup DROP COLUMN words"]),
    (3, OLDER_DOCUMENTS),
    (4, OLDER_CHANGES),
]


def downgrade(db, version, statements):
    storage = Storage.open(db)
    with storage.transaction() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
        conn.execute(sa.text(f"UPDATE hashsearch_meta SET value = '{version}' WHERE key = 'format_version'"))
    storage.close()


@pytest.mark.parametrize("version,statements", OLDER_VERSIONS)
def test_an_older_index_is_upgraded_on_open_with_nothing_lost(new_db, sample_docs, version, statements):
    """Opening makes the lookup and snippets tables anew from the documents, and searches answer as before."""
    db = new_db()
    with Searcher.build(sample_docs, db, bits=32, **FAST) as searcher:
        before = searcher.search_many(["space shuttle", "car engine"], k=20)
    downgrade(db, version, statements)
    with Searcher.open(db) as upgraded:
        assert len(upgraded) == 400
        assert upgraded.search_many(["space shuttle", "car engine"], k=20) == before
    with Searcher.open(db) as reopened:
        assert reopened.info()["documents"] == 400
        assert reopened.search_many(["space shuttle", "car engine"], k=20) == before


@pytest.mark.parametrize("version,statements", OLDER_VERSIONS)
def test_building_over_an_older_index_upgrades_it_first(new_db, sample_docs, version, statements):
    db = new_db()
    Searcher.build(sample_docs[:40], db, bits=16, **FAST).close()
    downgrade(db, version, statements)
    with Searcher.build(sample_docs[:30], db, bits=16, **FAST) as rebuilt:
        assert len(rebuilt) == 30 and rebuilt.search(sample_docs[0]["text"], k=1)[0].id == sample_docs[0]["id"]
    storage = Storage.open(db)
    with storage.transaction() as conn:
        columns = {column["name"] for column in sa.inspect(conn).get_columns("hashsearch_documents")}
    assert "vector" not in columns and storage.read_meta()["format_version"] == FORMAT_VERSION
    storage.close()


def test_info_reports_codes_and_vocabulary_drift(new_db, sample_docs):
    db = new_db()
    with Searcher.build(sample_docs, db, bits=32, **FAST) as searcher:
        facts = searcher.info()
        assert facts["documents"] == 400 and facts["bits"] == 32 and len(facts["bit_on_share"]) == 32
        storage = Storage.open(db)
        stored = storage.read_lookup().codes
        storage.close()
        expected = np.unpackbits(stored.reshape(400, 4), axis=1).mean(axis=0)
        assert np.allclose(facts["bit_on_share"], expected, atol=0.0005)
        assert 1 <= facts["largest_bucket"] <= 400 and facts["distinct_codes"] <= 400
        assert not facts["retrain_advised"]
        searcher.add([{"id": f"new-{i}", "text": "zyxwv qwertz blorft snarfle " * 5} for i in range(20)])
        drifted = searcher.info(recent=20)
        assert drifted["recent_oov_share"] == 1.0 and drifted["retrain_advised"]


def test_info_of_an_index_opened_lazily_reads_no_weights_and_says_the_same(built_db, monkeypatch):
    """The CLI's info opens lazily and reads no model weights; its facts equal a fully opened index's,
    and the searcher then reads the whole snapshot for its first search."""
    with Searcher.open(built_db) as loaded:
        expected, hits = loaded.info(), loaded.search("space shuttle launch", k=5)
    read = []
    original = Storage.read_artifact
    monkeypatch.setattr(Storage, "read_artifact", lambda self, name: read.append(name) or original(self, name))
    with Searcher.open(built_db, lazy=True) as searcher:
        assert searcher.info() == expected
        assert "model_weights" not in read and "model_config" in read
        assert searcher.search("space shuttle launch", k=5) == hits
        assert "model_weights" in read


def test_info_flags_collapsed_codes_with_the_retrain_advice(new_db, sample_docs):
    """30 posts, then 400 short notes that all get one code: the health facts say the codes collapsed and
    what to do; the 400 posts of a fresh build of the sample are judged healthy."""
    db = new_db()
    with Searcher.build(sample_docs[:30], db, bits=32, **FAST) as searcher:
        searcher.add([{"id": f"note-{i}", "text": f"a short note from the writer, number {i}"} for i in range(400)])
        facts = searcher.info()
        assert facts["largest_bucket"] > 0.1 * facts["documents"]
        assert facts["collapsed"] and facts["retrain_advised"]
        assert facts["advice"][0].startswith(f"The codes have collapsed: {facts['largest_bucket']:,} of 430 "
                                             "documents share one code")
        assert facts["advice"][0].endswith("Retrain: hashsearch index SOURCE --retrain (with more documents, "
                                           "or another --seed).")
    with Searcher.build(sample_docs, new_db(), bits=32, **FAST) as healthy:
        facts = healthy.info()
        assert not facts["collapsed"] and facts["advice"] == [] and facts["stuck_bits"] <= 8
