"""Query-biased snippets: the passage that holds the query's words, with their spans marked, in any script."""
import json
import random

import pytest
from click.testing import CliRunner

from hashsearch import InvalidParameterError
from hashsearch.cli import main
from hashsearch.store.schema import SNIPPET_CHARS, make_snippet
from hashsearch.text.analysis import Analyzer
from hashsearch.text.snippets import best_passage

ENGLISH, PLAIN = Analyzer(), Analyzer(None)
FILLER = "nothing to see in these words at all. " * 12


def marked(passage):
    return [passage.text[start:end] for start, end in passage.marks]


def test_the_passage_holds_the_query_words_and_marks_their_forms():
    text = FILLER + "The shuttle LAUNCHES were delayed; a launch to lunar orbit comes next. " + FILLER
    passage = best_passage(text, set(ENGLISH.terms("lunar orbit launch")), ENGLISH)
    assert marked(passage) == ["LAUNCHES", "launch", "lunar", "orbit"]
    assert passage.text.startswith("…") and passage.text.endswith("…") and len(passage.text) <= 202


def test_the_window_with_the_most_distinct_words_wins():
    text = "launch launch launch. " + FILLER + "a launch into orbit around the moon. " + FILLER
    passage = best_passage(text, set(ENGLISH.terms("launch orbit moon")), ENGLISH)
    assert marked(passage) == ["launch", "orbit", "moon"]


@pytest.mark.parametrize("text,query,analyzer,expected", [
    ("北京大学の学生がサッカーをする。東京にも行く。", "北京 サッカー", ENGLISH, ["北京", "サッカー"]),
    ("Le CAFÉ est ouvert, et le café est bon.", "cafe", PLAIN, ["CAFÉ", "café"]),
    ("Москва — столица России.", "москва", PLAIN, ["Москва"]),
    ("Ich kaufe ein POÄNG Sessel.", "poäng", PLAIN, ["POÄNG"]),
])
def test_words_are_marked_in_any_script(text, query, analyzer, expected):
    assert marked(best_passage(text, set(analyzer.terms(query)), analyzer)) == expected


def test_without_the_query_words_the_passage_is_the_start():
    passage = best_passage("First words here. " + FILLER, set(ENGLISH.terms("zebra")), ENGLISH)
    assert passage.text.startswith("First words here.") and passage.marks == []


def test_search_gives_passages_on_request(searcher):
    hits = searcher.search("hockey goalie playoffs", k=5, snippets="passage")
    assert hits and all(hit.marks for hit in hits)
    query_terms = set(ENGLISH.terms("hockey goalie playoffs"))
    for hit in hits:
        for start, end in hit.marks:
            assert set(ENGLISH.terms(hit.snippet[start:end])) & query_terms
    assert all(hit.marks is None for hit in searcher.search("hockey goalie playoffs", k=5))  # the stored start
    similar = searcher.similar(hits[0].id, k=3, snippets="passage")  # no query words: the start
    assert similar and all(hit.marks == [] and hit.snippet and hit.title and hit.metadata for hit in similar)
    assert all(hit.title and hit.metadata == {"topic": hit.id.split("/")[0]} for hit in hits)
    with pytest.raises(InvalidParameterError, match=r"snippets must be one of True, False, 'lead', 'passage'\. "
                                                    r"Got 'best' instead\."):
        searcher.search("hockey", snippets="best")


def test_the_cli_prints_passages_with_their_marks(built_db):
    result = CliRunner().invoke(main, ["query", "encryption key escrow", "--db", built_db, "-k", "3", "--json"])
    hits = json.loads(result.output)
    assert hits and all(hit["marks"] for hit in hits)
    assert all(hit["snippet"][start:end].lower().startswith(("encrypt", "key", "escrow"))
               for hit in hits for start, end in hit["marks"])


def test_a_stored_snippet_equals_the_whole_prefix_flattened_and_cut():
    """``make_snippet`` reads the first 400 characters when they settle it; the reference reads 800."""
    def reference(text):
        flat = " ".join(text[: SNIPPET_CHARS * 4].split())
        return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rstrip() + "…"

    rng = random.Random(0)
    pieces = ["a", "word", "longerword", "x" * 150, " ", "  ", "\n\n", "\t", " " * 120, "é", "слово", "词"]
    texts = ["", "   ", "one", "a " * 100, "a" * 399 + " b", "a " * 199 + "bc", " " * 300 + "word " * 50]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 300))) for _ in range(3000)]
    for text in texts:
        assert make_snippet(text) == reference(text), repr(text)
