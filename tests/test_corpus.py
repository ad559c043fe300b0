import json

import pytest

from hashsearch import CorpusError
from hashsearch.text.corpus import read_corpus


def test_folder_ids_are_relative_paths_and_odd_files_are_handled(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt").write_text("first document", encoding="utf-8")
    (tmp_path / "two.md").write_bytes(b"caf\xe9 latin-1 byte")  # not UTF-8: replaced, not fatal
    (tmp_path / "empty.txt").write_text("   \n", encoding="utf-8")
    (tmp_path / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.txt").write_text("hidden", encoding="utf-8")
    corpus = read_corpus(tmp_path)
    assert [d.id for d in corpus.documents] == ["a/one.txt", "two.md"]
    assert corpus.documents[1].text == "café latin-1 byte"  # not UTF-8: read in the encoding it most likely is
    assert corpus.skipped_empty == ["empty.txt"]
    assert corpus.skipped_binary == ["blob.txt"]


def test_jsonl_keeps_extra_fields_as_metadata(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"id": 7, "text": "hello world", "lang": "en"}) + "\n\n"
                    + json.dumps({"id": "b", "text": ""}) + "\n", encoding="utf-8")
    corpus = read_corpus(path)
    assert [(d.id, d.text, d.metadata) for d in corpus.documents] == [("7", "hello world", {"lang": "en"})]
    assert corpus.skipped_empty == ["b"]


def test_jsonl_broken_line_names_file_and_line(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "a", "text": "ok"}\n{"id": "b", "text": \n', encoding="utf-8")
    with pytest.raises(CorpusError, match=rf"^{path}, line 2: not valid JSON \(Expecting value\)\. "
                                          r"Fix or remove that line\.$"):
        read_corpus(path)


def test_jsonl_missing_text_and_duplicate_ids(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "a"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"line 1: the field 'text' is missing"):
        read_corpus(path)
    path.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"line 2: duplicate id 'a' \(first seen at .*line 1\)"):
        read_corpus(path)


def test_csv_reads_id_and_text_columns(tmp_path):
    path = tmp_path / "docs.csv"
    path.write_text('id,text,source\n1,"a, quoted\nmultiline text",web\n2,second,mail\n', encoding="utf-8")
    corpus = read_corpus(path)
    assert [(d.id, d.text, d.metadata) for d in corpus.documents] == [
        ("1", "a, quoted\nmultiline text", {"source": "web"}), ("2", "second", {"source": "mail"})]


def test_csv_errors(tmp_path):
    path = tmp_path / "docs.csv"
    path.write_text("name,body\nx,y\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"the header has no id or text column"):
        read_corpus(path)
    path.write_text("id,text\n1,fine\n2\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"line 3: expected 2 fields"):
        read_corpus(path)


def test_iterable_of_dicts_and_bad_items():
    corpus = read_corpus([{"id": "x", "text": "some\x00 words"}])
    assert (corpus.documents[0].id, corpus.documents[0].text) == ("x", "some words")
    with pytest.raises(CorpusError, match=r"^documents, item 1: expected an object with id and text, got str\.$"):
        read_corpus(["just a string"])


def test_missing_path_and_unsupported_type(tmp_path):
    with pytest.raises(CorpusError, match=r"no such file or folder\.$"):
        read_corpus(tmp_path / "nope")
    bad = tmp_path / "data.xlsx"
    bad.write_bytes(b"x")
    with pytest.raises(CorpusError, match=r"unsupported file type '\.xlsx'"):
        read_corpus(bad)


def test_content_hash_changes_with_text_only():
    a, b, c = (read_corpus([{"id": "x", "text": t}]).documents[0] for t in ("one", "one", "two"))
    assert a.content_hash == b.content_hash != c.content_hash
