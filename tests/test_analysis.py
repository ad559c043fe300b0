"""Text analysis: one definition of a term for documents, queries and the vocabulary, in any script."""
import json
import unicodedata

import pytest

from hashsearch import InvalidParameterError, Searcher
from hashsearch.text.analysis import Analyzer, LegacyAnalyzer, analyzer_from_dict
from hashsearch.text.features import TextFeatures
from tests.conftest import FAST

ANALYZER = Analyzer()


def terms(text, analyzer=ANALYZER):
    return [term.decode("utf-8") for term in analyzer.terms(text)]


@pytest.mark.parametrize("typed, stored", [
    ("cafe", "Café"),
    ("poang", "POÄNG"),
    (unicodedata.normalize("NFD", "POÄNG"), "poäng"),
    ("STRASSE", "Straße"),
    ("dog", "Dogs"),
    ("ｆｕｌｌ", "full"),  # full-width letters (NFKC)
])
def test_query_and_document_forms_meet(typed, stored):
    assert terms(typed) == terms(stored) and terms(typed)


def test_programming_names_and_model_numbers_stay_whole():
    assert terms("C++ and C# on .NET, x86-64 or 3.14") == ["c++", "c#", ".net", "x86-64", "3.14"]
    assert terms("C programs") == ["c", "program"]
    assert terms("state-of-the-art") == ["state", "art"]  # no digit: the parts, stop words dropped


def test_scripts_without_spaces_become_characters_and_pairs():
    assert set(terms("北京")) <= set(terms("北京大学的学生"))
    assert "北京" in terms("北京大学") and "北" in terms("北京大学")
    assert {"サッ", "ッカ", "カー"} <= set(terms("サッカーの試合"))
    assert terms("東") == ["東"]  # one character is still a term


def test_stop_words_and_stemming_follow_the_language():
    assert terms("The dogs are running") == ["dog", "run"]
    assert terms("The dogs are running", Analyzer(None)) == ["the", "dogs", "are", "running"]
    assert terms("Футбольные клубы", Analyzer("russian")) == ["футбольн", "клуб"]
    assert [ANALYZER.is_vocabulary_term(word) for word in ["the", "doe", "dog", "42", "x"]] == [
        False, False, True, False, False]  # "does" stems to "doe": a stop word as well
    assert Analyzer(None).is_vocabulary_term("the") and Analyzer("french").is_vocabulary_term("the")
    with pytest.raises(InvalidParameterError, match="language must be one of .*Got 'klingon'"):
        Analyzer("klingon")


def test_the_analysis_is_saved_with_the_vocabulary_and_older_ones_keep_theirs():
    features = TextFeatures(min_df=1, language="french")
    features.fit_transform(["les chiens courent", "un chien court"])
    again = TextFeatures.from_json(features.to_json())
    assert again.analyzer_ == Analyzer("french") and again.vocabulary_ == features.vocabulary_
    state = json.loads(features.to_json())
    state["format_version"] = 2
    del state["analysis"], state["params"]["language"]
    legacy = TextFeatures.from_json(json.dumps(state))
    assert isinstance(legacy.analyzer_, LegacyAnalyzer)
    assert terms("Dogs C++ a café", legacy.analyzer_) == ["dogs", "café"]  # as indexes before it analysed text
    assert isinstance(analyzer_from_dict(None), LegacyAnalyzer)


MIXED = [
    {"id": "cafe", "text": "The Café on the corner serves espresso and pastries every morning."},
    {"id": "ikea", "text": "The POÄNG armchair is a bentwood chair sold flat packed."},
    {"id": "beijing", "text": "北京大学是中国的一所大学，位于北京市海淀区。"},
    {"id": "soccer", "text": "サッカーの試合は東京で行われました。"},
    {"id": "cpp", "text": "Templates in C++ make generic containers fast; the compiler expands them."},
    {"id": "c", "text": "Pointers in C point at memory; the compiler trusts the programmer."},
    {"id": "dogs", "text": "Dogs bark at the postman when he walks past the garden gate."},
    {"id": "moscow", "text": "Футбольный клуб из Москвы выиграл чемпионат."},
] + [{"id": f"filler-{i}", "text": f"Notes on gardening, weather and cooking, page {i}: soil, rain and soup."}
     for i in range(12)]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    searcher = Searcher.build(MIXED, tmp_path_factory.mktemp("mixed") / "mixed.db", epochs=2)
    yield searcher
    searcher.close()


@pytest.mark.parametrize("query, expected", [
    ("cafe", "cafe"), ("café", "cafe"), ("POÄNG", "ikea"), (unicodedata.normalize("NFD", "POÄNG"), "ikea"),
    ("poang chair", "ikea"), ("北京", "beijing"), ("サッカー", "soccer"), ("C++", "cpp"), ("dog", "dogs"),
    ("футбольный", "moscow"), ("東京", "soccer"),
])
def test_a_mixed_language_corpus_is_searchable_in_every_script(mixed, query, expected):
    assert mixed.search(query, k=3)[0].id == expected


@pytest.mark.parametrize("mode", ["hybrid", "hamming"])
@pytest.mark.parametrize("query", ["zzqxw blorf", "kaffee", "\N{GRINNING FACE}", "Straße 42"])
def test_a_query_of_unknown_words_has_no_hits(mixed, query, mode):
    assert mixed.search(query, k=5, mode=mode) == []
    assert mixed.search_many([query, "cafe"], k=5, mode=mode)[0] == []


def test_an_index_built_before_the_analysis_keeps_its_own(new_db, sample_docs):
    """An index whose vocabulary predates the analysis (format 2, nothing saved of it) is read, upgraded
    and searched with the analysis it was built with: its stored words and its queries stay alike."""
    import sqlalchemy as sa

    from hashsearch.index.words import query_hashes
    from hashsearch.store.schema import artifacts_table
    from hashsearch.store.storage import Storage

    db = new_db()
    Searcher.build(sample_docs[:100], db, bits=32, epochs=2).close()
    storage = Storage.open(db)
    state = json.loads(storage.read_artifact("vocabulary"))
    state["format_version"] = 2
    del state["analysis"], state["params"]["language"]
    with storage.transaction() as conn:
        conn.execute(sa.update(artifacts_table).where(artifacts_table.c.name == "vocabulary").values(
            data=json.dumps(state).encode("utf-8")))
        conn.execute(sa.text("UPDATE hashsearch_meta SET value = '4' WHERE key = 'format_version'"))
    storage.close()
    with Searcher.open(db) as upgraded:  # format 4 -> the lookup table's words made anew from the texts
        legacy = upgraded._snapshot.features.analyzer_
        assert isinstance(legacy, LegacyAnalyzer)
        words = upgraded._snapshot.main.words
        assert len(words.positions(query_hashes(legacy.terms("graphics images")))) == 2
        assert not len(words.positions(query_hashes(ANALYZER.terms("graphics images"))))  # stems: not stored
        assert upgraded.search("graphics images", k=3)


def test_a_one_word_query_ranks_the_document_about_it_first(new_db):
    """On a small folder of module notes, a module's name finds its note first: the word match is not
    outranked by the code's share of documents that merely look alike."""
    notes = {
        "json": "json: encode and decode JSON. json.dumps turns objects into JSON text; json.loads parses it.",
        "journalctl": "journalctl: query the systemd journal. Filter log entries by unit, priority and time.",
        "ip": "ip: show and manipulate routing, network devices, interfaces and tunnels on Linux.",
        "random": "random: generate pseudo-random numbers. random.choice picks an element; random.seed fixes them.",
        "datetime": "datetime: dates and times. datetime.now gives the current time; timedelta adds days.",
        "pathlib": "pathlib: object-oriented filesystem paths. Path.read_text reads a file's contents.",
        "logging": "logging: log messages from a program to files, the terminal or the systemd journal.",
        "socket": "socket: low-level networking interface; connect to hosts and send bytes over the network.",
        "csv": "csv: read and write comma-separated values files, rows and columns of text data.",
        "re": "re: regular expression operations; search, match and substitute patterns in text.",
    }
    docs = [{"id": f"{name}.md", "text": text} for name, text in notes.items()]
    docs += [{"id": f"{name}-{i}.md", "text": f"{text} More notes, part {i}."} for i in range(3)
             for name, text in notes.items() if name not in ("json", "random", "datetime")]
    with Searcher.build(docs, new_db(), bits=32, **FAST) as searcher:
        for word in ("json", "random", "datetime"):
            assert searcher.search(word, k=3)[0].id == f"{word}.md"
