"""Files as people have them: byte-order marks, legacy encodings, UTF-16, HTML, JSON arrays, gzip, Parquet,
typed CSV values, and fields named by the user."""
import gzip
import json

import pytest

from hashsearch import CorpusError, InvalidParameterError, Searcher
from hashsearch.text.corpus import read_corpus
from hashsearch.text.decoding import html_text
from hashsearch.text.records import Fields, typed_value
from tests.conftest import FAST

RUSSIAN = ("Московский метрополитен перевозит миллионы пассажиров каждый день, и новые станции "
           "открываются почти каждый год в разных районах города.")
FRENCH = "Le café de la gare ouvre à sept heures; on y sert des crêpes et du thé très chaud."


def texts(path, **fields):
    return {d.id: d.text for d in read_corpus(path, fields=Fields(**fields) if fields else None).documents}


def test_a_byte_order_mark_is_dropped_from_text_jsonl_and_csv(tmp_path):
    (tmp_path / "note.txt").write_bytes(b"\xef\xbb\xbfhello world")
    (tmp_path / "docs.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "a", "text": "first"}).encode() + b"\n")
    (tmp_path / "excel.csv").write_bytes("\ufeffid,text,price\r\n1,a lamp,45\r\n".encode("utf-8"))
    assert texts(tmp_path / "note.txt") == {"note.txt": "hello world"}
    assert texts(tmp_path / "docs.jsonl") == {"a": "first"}
    corpus = read_corpus(tmp_path / "excel.csv")  # "CSV UTF-8" as Excel saves it
    assert [(d.id, d.text, d.metadata) for d in corpus.documents] == [("1", "a lamp", {"price": 45})]


def test_legacy_encodings_are_read_and_named(tmp_path):
    (tmp_path / "fr.txt").write_bytes(FRENCH.encode("latin-1"))
    (tmp_path / "ru.txt").write_bytes(RUSSIAN.encode("cp1251"))
    (tmp_path / "utf8.txt").write_text(FRENCH, encoding="utf-8")
    corpus = read_corpus(tmp_path)
    assert {d.id: d.text for d in corpus.documents} == {"fr.txt": FRENCH, "ru.txt": RUSSIAN, "utf8.txt": FRENCH}
    assert sorted(corpus.guessed_encodings) == [str(tmp_path / "fr.txt"), str(tmp_path / "ru.txt")]
    csv_path = tmp_path / "legacy.csv"
    csv_path.write_bytes(f"id,text\n1,{FRENCH}\n".encode("cp1252"))
    assert texts(csv_path) == {"1": FRENCH}


def test_utf16_with_a_byte_order_mark_is_text_not_binary(tmp_path):
    (tmp_path / "le.txt").write_bytes(RUSSIAN.encode("utf-16"))  # with its BOM
    (tmp_path / "be.txt").write_bytes(b"\xfe\xff" + FRENCH.encode("utf-16-be"))
    (tmp_path / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    corpus = read_corpus(tmp_path)
    assert {d.id: d.text for d in corpus.documents} == {"le.txt": RUSSIAN, "be.txt": FRENCH}
    assert corpus.skipped_binary == ["blob.txt"] and corpus.guessed_encodings == {}


def test_html_is_read_as_its_visible_text_with_its_title(tmp_path):
    page = ("<!doctype html><html><head><title>Rockets &amp; moons</title><style>p {color: red}</style>"
            "<script>var hidden = 'zzqxw';</script></head><body><h1>Launch</h1><p>A rocket to the "
            "<b>moon</b>.</p><p>Caf&eacute; stop.</p><noscript>enable js</noscript></body></html>")
    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("plain", encoding="utf-8")
    corpus = read_corpus(tmp_path)
    html = next(d for d in corpus.documents if d.id == "page.html")
    assert html.text == "Launch\nA rocket to the moon.\nCafé stop." and html.metadata == {"title": "Rockets & moons"}
    assert html_text("<html><head><title>t</title><body><p>no closing head</p>") == ("t", "no closing head")


def test_json_arrays_and_gzip_files(tmp_path):
    records = [{"id": "a", "text": "alpha", "n": 1}, {"id": "b", "text": "beta", "n": 2}]
    (tmp_path / "docs.json").write_text(json.dumps(records), encoding="utf-8")
    with gzip.open(tmp_path / "docs.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in records)
    with gzip.open(tmp_path / "docs.csv.gz", "wt", encoding="utf-8") as handle:
        handle.write("id,text,n\na,alpha,1\nb,beta,2\n")
    for name in ("docs.json", "docs.jsonl.gz", "docs.csv.gz"):
        corpus = read_corpus(tmp_path / name)
        assert [(d.id, d.text, d.metadata) for d in corpus.documents] == [("a", "alpha", {"n": 1}),
                                                                          ("b", "beta", {"n": 2})], name
    (tmp_path / "object.json").write_text(json.dumps({"id": "a", "text": "x"}), encoding="utf-8")
    with pytest.raises(CorpusError, match=r"object\.json: expected a JSON array of objects, found a dict\."):
        read_corpus(tmp_path / "object.json")


def test_parquet_is_read_in_batches(tmp_path, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from hashsearch.text import sources
    monkeypatch.setattr(sources, "PARQUET_BATCH_ROWS", 3)  # 10 rows in 4 batches
    table = pa.table({"url": [f"https://x/{i}" for i in range(10)], "title": [f"Title {i}" for i in range(10)],
                      "body": [f"body number {i}" for i in range(10)], "year": list(range(2000, 2010))})
    pq.write_table(table, tmp_path / "pages.parquet")
    corpus = read_corpus(tmp_path / "pages.parquet", fields=Fields(id="url", text=("title", "body"), title="title"))
    assert len(corpus.documents) == 10
    doc = corpus.documents[7]
    assert (doc.id, doc.text, doc.metadata) == ("https://x/7", "Title 7\n\nbody number 7",
                                                {"title": "Title 7", "year": 2007})


def test_csv_values_are_typed_as_where_values_are(tmp_path):
    path = tmp_path / "shop.csv"
    path.write_text("id,text,price,in_stock,sku,rating\n1,a cheap lamp,45,true,007,4.5\n"
                    "2,a dear lamp,900,FALSE,010,\n", encoding="utf-8")
    metadata = [d.metadata for d in read_corpus(path).documents]
    assert metadata == [{"price": 45, "in_stock": True, "sku": "007", "rating": 4.5},
                        {"price": 900, "in_stock": "FALSE", "sku": "010"}]  # JSON's false only, as --where
    kept = [d.metadata for d in read_corpus(path, fields=Fields(typed=False)).documents]
    assert kept[0] == {"price": "45", "in_stock": "true", "sku": "007", "rating": "4.5"}
    assert [typed_value(v) for v in ("12", "-3.5e2", "true", "false", "007", "nan", "null", "x")] == [
        12, -350.0, True, False, "007", "nan", "null", "x"]


def test_fields_name_the_id_text_and_title(tmp_path, new_db):
    records = [{"url": f"u{i}", "title": f"Moon rocket {i}", "body": "launch and orbit burns " * 3, "year": 2000 + i}
               for i in range(6)] + [{"url": "h", "title": "Hockey", "body": "goals and ice", "year": 1999}]
    with Searcher.build(records, new_db(), bits=16, id_field="url", text_field=["title", "body"],
                        title_field="title", **FAST) as searcher:
        assert searcher.get(["h"])[0].text == "Hockey\n\ngoals and ice"
        assert searcher.get(["h"])[0].metadata == {"title": "Hockey", "year": 1999}
        assert searcher.search("hockey ice", k=1, where={"year": {"$lt": 2000}})[0].id == "h"
        report = searcher.add([{"url": "n", "body": "a new note"}], id_field="url", text_field=["title", "body"])
        assert report.added == 1 and searcher.get(["n"])[0].text == "a new note"
    with pytest.raises(CorpusError, match=r"item 1: the field 'url' is missing\. Every document needs an id "
                                          r"\(name another field with --id-field\)\."):
        read_corpus([{"id": "x", "text": "y"}], fields=Fields(id="url"))
    with pytest.raises(InvalidParameterError, match=r"text_fields must be a non-empty list of field names"):
        Searcher.build(records, new_db(), text_field=[])
