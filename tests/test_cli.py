import json
import sqlite3

import pytest
from click.testing import CliRunner

from hashsearch import Searcher
from hashsearch.cli import main


@pytest.fixture()
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    return lambda *args, **kw: runner.invoke(main, list(args), **kw)


def test_index_then_query_prints_hits(run, sample_dir):
    result = run("index", str(sample_dir), "--epochs", "2", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("hashsearch.db: 400 added, 0 updated, 0 removed, 0 unchanged; 400 documents, "
                                    "64-bit codes")
    result = run("query", "rocket launch to the moon", "-k", "5")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == 5 and lines[0].lstrip().startswith("1  d=") and "score=" in lines[0]
    result = run("query", "rocket launch to the moon", "-k", "3", "--json")
    hits = json.loads(result.output)
    assert len(hits) == 3 and {"id", "distance", "snippet", "score"} <= set(hits[0])
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    result = run("query", "rocket launch to the moon", "-k", "3", "--json", "--radius", "1", "--mode", "hamming")
    hits = json.loads(result.output)
    assert [h["distance"] for h in hits] == sorted(h["distance"] for h in hits) and hits[0]["score"] is None
    result = run("query", "rocket", "--mode", "cosine")
    assert result.exit_code == 2 and "'cosine' is not one of 'hybrid', 'hamming'" in result.output
    for mode in ("hybrid", "hamming"):  # words no document holds: no hits, not the nearest of no code
        assert run("query", "zzqxw blorf", "--mode", mode).output == "No hits.\n"
        assert json.loads(run("query", "zzqxw blorf", "--mode", mode, "--json").output) == []


def test_db_option_and_environment_variable(run, sample_dir, tmp_path, monkeypatch):
    result = run("index", str(sample_dir / "sci.space"), "--db", "space.db", "--bits", "16", "--epochs", "1")
    assert result.exit_code == 0
    monkeypatch.setenv("HASHSEARCH_DB", "space.db")
    result = run("query", "orbit", "--json")
    assert result.exit_code == 0 and len(json.loads(result.output)) == 10


def test_reindex_add_and_remove(run, tmp_path, sample_dir):
    corpus = tmp_path / "corpus.jsonl"
    docs = [{"id": p.name, "text": p.read_text()} for p in sorted((sample_dir / "sci.med").glob("*.txt"))]
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs[:40]))
    assert run("index", str(corpus), "--epochs", "1").exit_code == 0
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs[5:45]))
    result = run("index", str(corpus))
    assert result.output.startswith("hashsearch.db: 5 added, 0 updated, 0 removed, 35 unchanged; 45 documents")
    gone = ", ".join(d["id"] for d in docs[:5])
    assert f"Kept 5 indexed documents not in the source (--prune removes them): {gone}\n" in result.output
    result = run("index", str(corpus), "--prune")
    assert result.output.startswith("hashsearch.db: 0 added, 0 updated, 5 removed, 40 unchanged; 40 documents")
    assert f"Removed 5 indexed documents not in the source: {gone}\n" in result.output
    result = run("add", "-", input=json.dumps({"id": "extra", "text": "a note about medicine"}) + "\n")
    assert result.output.startswith("hashsearch.db: 1 added, 0 updated, 0 removed, 0 unchanged; 41 documents")
    result = run("remove", "extra", "ghost")
    assert result.exit_code == 0
    assert result.output.startswith("hashsearch.db: 0 added, 0 updated, 1 removed, 0 unchanged; 40 documents")
    assert "Skipped 1 not in the index: ghost" in result.output


@pytest.mark.parametrize("args,message", [
    (["index", "missing-folder"], "Error: missing-folder: no such file or folder.\n"),
    (["index", "data.xlsx"], "Error: data.xlsx: unsupported file type '.xlsx'. Give a folder or a file ending in one "
                             "of: .jsonl, .json, .csv, .parquet, .jsonl.gz, .json.gz, .csv.gz, .txt, .md, .markdown, "
                             ".rst, .text, .html, .htm, .xhtml.\n"),
    (["index", "empty"], "Error: empty: no documents to index (1 empty or binary skipped). Give a folder of "
                         ".txt/.md/.html files, or a .jsonl, .json, .csv or .parquet file of records with an id and "
                         "a text.\n"),
    (["index", "empty", "--bits", "30"], "Error: bits must be one of 16, 32, 64, 128. Got 30 instead.\n"),
    (["index", "empty", "--weighting", "bm52"], "Error: weighting must be one of bm25, tfidf, log. "
                                                "Got 'bm52' instead.\n"),
    (["query", "moon"], "Error: no index at hashsearch.db. Run `hashsearch index SOURCE --db hashsearch.db` first.\n"),
    (["query", "moon", "--db", "other.db"], "Error: other.db is not a hashsearch index. "
                                            "Run `hashsearch index SOURCE --db other.db` to create one.\n"),
    (["query", "moon", "--db", "junk.db"], "Error: junk.db is not a hashsearch index "
                                           "(file is not a database).\n"),
])
def test_bad_input_gets_one_line_error(run, tmp_path, args, message):
    (tmp_path / "data.xlsx").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "blank.txt").write_text("  ")
    sqlite3.connect(tmp_path / "other.db").execute("create table notes (x)").connection.close()
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite" * 100)
    result = run(*args)
    assert result.exit_code == 1
    assert result.output == message
    assert not (tmp_path / "hashsearch.db").exists()


def test_language_option_sets_the_analysis(run, sample_dir):
    assert run("index", str(sample_dir / "rec.autos"), "--epochs", "1", "--language", "none").exit_code == 0
    with Searcher.open("hashsearch.db") as searcher:
        assert searcher._snapshot.features.analyzer_.language is None
    result = run("index", str(sample_dir / "rec.autos"), "--db", "other.db", "--language", "klingon")
    assert result.exit_code == 1 and result.output.startswith("Error: language must be one of arabic")


def test_empty_query_error(run, sample_dir):
    run("index", str(sample_dir / "rec.autos"), "--epochs", "1")
    result = run("query", " ")
    assert (result.exit_code, result.output) == (1, "Error: the query is empty. Give some words to search for.\n")


def test_help_describes_every_option(run):
    for command in ([], ["index"], ["query"], ["add"], ["remove"], ["info"]):
        result = run(*command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output
    index_help = run("index", "--help").output
    for option in ("--db", "--bits", "--seed", "--epochs", "--quiet", "--retrain"):
        assert option in index_help


def test_info_text_and_json(run, sample_dir):
    run("index", str(sample_dir / "sci.crypt"), "--epochs", "1", "--bits", "16")
    result = run("info")
    assert result.exit_code == 0
    assert result.output.startswith("hashsearch.db: 50 documents, 16-bit codes (variational model trained ")
    facts = json.loads(run("info", "--json").output)
    assert facts["documents"] == 50 and len(facts["bit_on_share"]) == 16
    assert facts["example_queries"] and result.output.endswith(
        "words to try: " + ", ".join(facts["example_queries"]) + "\n")


@pytest.fixture()
def tagged(run, tmp_path, sample_dir):
    """A small .jsonl index whose records carry metadata fields."""
    corpus = tmp_path / "tagged.jsonl"
    files = sorted(sample_dir.rglob("*.txt"))[::4]
    corpus.write_text("".join(json.dumps({"id": p.name, "text": p.read_text(), "topic": p.parent.name,
                                          "year": 1990 + i % 5}) + "\n" for i, p in enumerate(files)))
    assert run("index", str(corpus), "--epochs", "1", "--bits", "32").exit_code == 0
    return {p.name: (p.parent.name, 1990 + i % 5) for i, p in enumerate(files)}


def test_query_filters_and_pages(run, tagged):
    result = run("query", "rocket launch", "--where", "topic=sci.space", "--where", "year>=1993", "--json")
    hits = json.loads(result.output)
    assert hits and all(tagged[h["id"]][0] == "sci.space" and tagged[h["id"]][1] >= 1993 for h in hits)
    result = run("query", "rocket launch", "--where", "topic in sci.med,rec.autos", "-k", "20", "--json")
    assert {tagged[h["id"]][0] for h in json.loads(result.output)} <= {"sci.med", "rec.autos"}
    whole = json.loads(run("query", "rocket launch", "-k", "8", "--json").output)
    second = json.loads(run("query", "rocket launch", "-k", "4", "--offset", "4", "--json").output)
    assert second == whole[4:]
    result = run("query", "rocket", "--where", "topic=nothing")
    assert result.exit_code == 0 and result.output == "No hits.\n"


def test_bad_where_names_the_problem(run, tagged):
    result = run("query", "rocket", "--where", "topic")
    assert result.exit_code == 2
    assert ("Invalid value for --where: 'topic' is not FIELD=VALUE, FIELD!=VALUE, FIELD>VALUE, FIELD>=VALUE, "
            "FIELD<VALUE, FIELD<=VALUE or FIELD in A,B.") in result.output
    result = run("query", "rocket", "--where", "colour=red")
    assert result.exit_code == 1
    assert result.output == "Error: no document has a metadata field 'colour'. Fields: topic, year.\n"
    result = run("query", "rocket", "--where", "topic>3x")
    assert result.output == "Error: $gt on 'topic' needs a number. Got '3x' instead.\n"


def test_similar_and_get(run, tagged):
    first = next(iter(tagged))
    hits = json.loads(run("similar", first, "-k", "5", "--json").output)
    assert len(hits) == 5 and first not in {h["id"] for h in hits}
    result = run("similar", "ghost")
    assert result.exit_code == 1 and result.output == ("Error: no document 'ghost' in the index. Give the id of an "
                                                       "indexed document.\n")
    result = run("get", first, "ghost", "--json")
    documents = json.loads(result.output.split("Not in the index")[0])
    assert [d["id"] for d in documents] == [first] and documents[0]["metadata"]["topic"] == tagged[first][0]
    assert "Not in the index: ghost" in result.output and result.exit_code == 1  # after the known ones
    result = run("get", first)
    assert result.exit_code == 0
    assert result.output.startswith(f"== {first}  {{\"topic\": \"{tagged[first][0]}\"")


def test_a_csv_from_a_spreadsheet_with_named_fields_and_typed_filters(run, tmp_path):
    """An Excel "CSV UTF-8" export (byte-order mark, CRLF) whose id is a url and whose text is two fields:
    the numbers and booleans filter as numbers and booleans."""
    rows = [("https://shop/1", "Desk lamp", "a bright lamp for the desk", 45, "true"),
            ("https://shop/2", "Floor lamp", "a tall lamp for the floor", 900, "false"),
            ("https://shop/3", "Lamp shade", "a shade for any lamp", 15, "false")]
    lines = ["url,name,description,price,in_stock"] + [",".join(map(str, row)) for row in rows]
    (tmp_path / "shop.csv").write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    result = run("index", "shop.csv", "--id-field", "url", "--text-field", "name", "--text-field", "description",
                 "--title-field", "name", "--epochs", "1")
    assert result.exit_code == 0, result.output
    hits = json.loads(run("query", "lamp", "--where", "price<500", "--where", "in_stock=false", "--json").output)
    assert [hit["id"] for hit in hits] == ["https://shop/3"]
    document = json.loads(run("get", "https://shop/1", "--json").output)[0]
    assert document["text"] == "Desk lamp\n\na bright lamp for the desk"
    assert document["metadata"] == {"price": 45, "in_stock": True, "title": "Desk lamp"}
