"""What must hold identically on SQLite and PostgreSQL: byte-exact storage, several processes, the CLI."""
import json
import subprocess
import sys

import numpy as np
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from hashsearch import Searcher, SemanticHasher
from hashsearch.cli import main
from hashsearch.store.schema import snippets_table
from hashsearch.store.storage import Storage
from tests.conftest import FAST

WRITER = """
import sys
from hashsearch import Searcher
with Searcher.open(sys.argv[1]) as searcher:
    searcher.add([{"id": "from-other-process", "text": "a rocket launch to the moon and a lunar orbit"}])
"""


def test_codes_weights_and_texts_round_trip_byte_for_byte(new_db, sample_docs):
    db = new_db()
    docs = sample_docs[:60] + [{"id": "unicode ✓", "text": "naïve café – 東京 \x00 nul and emoji 🚀"}]
    with Searcher.build(docs, db, bits=64, **FAST) as searcher:
        expected_codes = searcher.encode([d["text"] for d in docs])
        config, weights = searcher._snapshot.hasher.to_bytes()
    storage = Storage.open(db)
    ids, codes = storage.read_lookup()[:2]
    texts = {doc_id: text for doc_id, (text, _) in storage.read_documents(ids).items()}
    assert storage.read_artifact("model_weights") == weights
    assert SemanticHasher.from_bytes(storage.read_artifact("model_config").decode(), weights).get_params()["bits"] == 64
    storage.close()
    by_id = dict(zip(ids, codes.reshape(len(ids), 8), strict=False))
    for doc, code in zip(docs, expected_codes, strict=False):
        assert by_id[doc["id"]].tobytes() == code.tobytes()
        assert texts[doc["id"]] == doc["text"].replace("\x00", "")  # NUL is dropped on reading, on every backend


def test_another_process_adds_and_refresh_sees_it(new_db, sample_docs):
    db = new_db()
    with Searcher.build(sample_docs[:100], db, bits=32, **FAST) as reader:
        assert len(reader) == 100
        subprocess.run([sys.executable, "-c", WRITER, db], check=True, timeout=120)
        assert len(reader) == 100  # a snapshot changes only on refresh
        reader.refresh()
        assert len(reader) == 101
        text = "a rocket launch to the moon and a lunar orbit"
        assert reader.search(text, k=1)[0].id == "from-other-process"
        assert [(h.id, h.distance) for h in reader.search(text, k=1, mode="hamming")] == [("from-other-process", 0)]


def test_cli_index_and_query_with_a_database_url(new_db, sample_dir, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    db = new_db()
    runner = CliRunner()
    result = runner.invoke(main, ["index", str(sample_dir / "sci.space"), "--db", db, "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "50 added" in result.output
    monkeypatch.setenv("HASHSEARCH_DB", db)
    hits = json.loads(runner.invoke(main, ["query", "orbit", "--json", "-k", "3"]).output)
    assert len(hits) == 3
    assert np.all(np.diff([h["score"] for h in hits]) <= 0)  # the default ranks by score
    hits = json.loads(runner.invoke(main, ["query", "orbit", "--json", "-k", "3", "--mode", "hamming"]).output)
    assert len(hits) == 3 and np.all(np.diff([h["distance"] for h in hits]) >= 0)


WRITER_BATCH = """
import sys
from hashsearch import Searcher
with Searcher.open(sys.argv[1]) as searcher:
    searcher.add(sys.argv[2])
"""


@pytest.mark.slow
def test_concurrent_writer_processes_keep_every_document(new_db, sample_docs, tmp_path):
    db = new_db()
    Searcher.build(sample_docs[:100], db, bits=32, **FAST).close()
    batches = []
    for number, batch in enumerate([sample_docs[100:200], sample_docs[200:300]]):
        batches.append(tmp_path / f"batch-{number}.jsonl")
        batches[-1].write_text("".join(json.dumps(d) + "\n" for d in batch), encoding="utf-8")
    writers = [subprocess.Popen([sys.executable, "-c", WRITER_BATCH, db, str(batch)]) for batch in batches]
    assert [writer.wait(timeout=180) for writer in writers] == [0, 0]
    with Searcher.open(db) as searcher:
        assert len(searcher) == 300
        storage = Storage.open(db)
        ids = storage.read_lookup().ids
        storage.close()
        assert sorted(ids) == sorted(d["id"] for d in sample_docs[:300])


def test_a_stale_kept_connection_is_replaced_and_reads_see_new_commits(new_db, sample_docs):
    """Snippet reads keep driver connections between queries; one that died (a server restart) is
    dropped and the read retried, and a kept connection never holds on to an old snapshot."""
    db = new_db()
    with Searcher.build(sample_docs[:60], db, bits=32, **FAST) as searcher:
        assert searcher.search("image graphics", k=3)
        storage = searcher._storage
        reader = storage._by_id
        stale = reader._take()
        stale.close()
        reader._idle.append(stale)
        hits = searcher.search("image graphics", k=3)
        assert len(hits) == 3 and all(hit.snippet for hit in hits)
        assert stale not in reader._idle
        writer = Storage.open(db)
        with writer.transaction() as conn:
            conn.execute(sa.update(snippets_table).where(snippets_table.c.id == hits[0].id).values(snippet="changed"))
        writer.close()
        assert storage.read_snippets([hits[0].id]) == {hits[0].id: "changed"}
