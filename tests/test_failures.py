"""A damaged, incomplete or read-only database, or a port in use: one line naming the problem and what to
do, exit status 1, and the index as it was."""
import shutil
import socket
import sqlite3

import pytest
from click.testing import CliRunner

from hashsearch import IndexDamagedError, IndexReadOnlyError, Searcher
from hashsearch.cli import main
from tests.conftest import FAST

REBUILD = "Restore it from a backup, or rebuild it: hashsearch index SOURCE --db {db} --retrain."


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, sample_docs):
    path = tmp_path_factory.mktemp("failures") / "base.db"
    Searcher.build(sample_docs[::4], str(path), bits=32, **FAST).close()
    return path


@pytest.fixture()
def copy(small_index, tmp_path, monkeypatch):
    """A copy of the small index, in the test's folder (the CLI runs there)."""
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(small_index, tmp_path / "index.db")
    return tmp_path / "index.db"


def cli(*args, **kwargs):
    return CliRunner().invoke(main, list(args), **kwargs)


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("Error: "), result.output
    return result.output[len("Error: "):-1]


def damage_pages_of(path, table):
    """Overwrite the first pages of ``table``'s b-tree with garbage (a damaged disk sector)."""
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("pragma page_size").fetchone()[0]
        root = conn.execute("select rootpage from sqlite_master where name = ?", (table,)).fetchone()[0]
    with open(path, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xa5" * page_size * 2)


def test_a_damaged_page_is_named_with_the_way_out(copy):
    damage_pages_of(copy, "hashsearch_artifacts")
    message = one_line_error(cli("query", "rocket", "--db", "index.db"))
    assert message.startswith("index.db is damaged (") and message.endswith(REBUILD.format(db="index.db"))
    with pytest.raises(IndexDamagedError):
        Searcher.open(str(copy))


def test_damaged_model_weights_are_named(copy):
    with sqlite3.connect(copy) as conn:
        conn.execute("update hashsearch_artifacts set data = ? where name = 'model_weights'", (b"\x00" * 64,))
    message = one_line_error(cli("query", "rocket", "--db", "index.db"))
    assert message.startswith("index.db: its stored model or vocabulary is damaged (")
    assert message.endswith(REBUILD.format(db="index.db"))
    # info, get and remove read no model weights, so they still work and save what is there
    assert cli("info", "--db", "index.db").output.startswith("index.db: 100 documents")
    first = sqlite3.connect(copy).execute("select id from hashsearch_documents limit 1").fetchone()[0]
    assert cli("get", first, "--db", "index.db").output.startswith(f"== {first}")
    assert cli("remove", first, "--db", "index.db").exit_code == 0


def test_a_missing_table_is_named(copy):
    with sqlite3.connect(copy) as conn:
        conn.execute("drop table hashsearch_documents")
    message = one_line_error(cli("query", "rocket", "--db", "index.db"))  # its passages read the texts
    assert message == f"index.db lacks the table hashsearch_documents: the index is incomplete. " \
                      f"{REBUILD.format(db='index.db')}"


def test_writes_to_a_read_only_database_change_nothing(copy, sample_docs):
    """Opened read-only (SQLite's mode=ro: what a file without write permission gives a user other than
    root), every write says so in one line; searches still work."""
    url = f"sqlite:///file:{copy}?mode=ro&uri=true"
    before = copy.read_bytes()
    (copy.parent / "more.jsonl").write_text('{"id": "new", "text": "a rocket to the moon"}\n')
    for args in (["add", "more.jsonl"], ["remove", sample_docs[0]["id"]], ["index", "more.jsonl"]):
        message = one_line_error(cli(*args, "--db", url))
        assert message.startswith("sqlite:///file") and " is read-only for this process (" in message
        assert message.endswith("the index is unchanged. Give write permission to the file and its folder, "
                                "or copy the index.")
    assert copy.read_bytes() == before
    with Searcher.open(url) as searcher:
        assert searcher.search("rocket", k=3)
        with pytest.raises(IndexReadOnlyError):
            searcher.remove([sample_docs[0]["id"]])


def test_serve_on_a_port_in_use_says_so(copy):
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        message = one_line_error(cli("serve", "--db", "index.db", "--port", str(port)))
    assert message.startswith(f"cannot listen on 127.0.0.1:{port} (")
    assert message.endswith("Stop the program that holds the port, or give another --port.")
