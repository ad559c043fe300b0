"""Query-biased snippets: the passage of a document that holds most of the query's words, with the
character spans of those words marked, in any script.

The document's raw text is cut into word runs, each analysed as a query is (``Analyzer.terms``: case,
accents, stems), so "Launches" in a post matches "launch" in a query; a run of a script written without
spaces (Chinese, Japanese, Thai) is matched by the query's terms of that script as substrings, so 北京
is marked inside 北京大学. The passage is the window of ``width`` characters, starting at a word, that
holds the most distinct query terms (the earliest such); with none, the text's start.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hashsearch.text.analysis import Analyzer

SNIPPET_WIDTH = 200  # characters, as the stored lead snippets
TITLE_CHARS = 120
_RUN = re.compile(r"[^\W_](?:[^\W_]|[.\-'’](?=[^\W_])|[+#])*")  # a word, inner dots and hyphens kept
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


@dataclass(frozen=True)
class Passage:
    """A snippet and the (start, end) character spans in it of the query's words."""

    text: str
    marks: list[tuple[int, int]]


def best_passage(text: str, query_terms: set[bytes], analyzer: Analyzer, width: int = SNIPPET_WIDTH) -> Passage:
    """The passage of ``text`` (at most ``width`` characters, whitespace folded) holding the most distinct
    ``query_terms`` (as ``analyzer`` makes them), and where they are in it."""
    text = " ".join(text.split())
    matches = _matches(text, query_terms, analyzer) if query_terms else []
    start, end = _window(text, _best_start(matches, width) if matches else 0, width)
    lead = "…" if start > 0 else ""
    marks = _merged([(s - start + len(lead), e - start + len(lead)) for s, e, _ in matches if s >= start and e <= end])
    return Passage(lead + text[start:end] + ("…" if end < len(text) else ""), marks)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans with those that overlap or touch joined (the pairs of one CJK word, say)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def document_title(text: str, metadata: dict[str, Any]) -> str:
    """What to head a hit with: its ``title`` field when that is text, else its first non-blank line
    (cut to ``TITLE_CHARS``)."""
    title = metadata.get("title")
    if isinstance(title, str) and title.strip():
        return " ".join(title.split())[:TITLE_CHARS]
    first = next((line for line in text.splitlines() if line.strip()), "")
    return " ".join(first.split())[:TITLE_CHARS]


def _matches(text: str, query_terms: set[bytes], analyzer: Analyzer) -> list[tuple[int, int, bytes]]:
    """(start, end, term) of each word run of ``text`` whose analysis holds a query term; within runs of
    unspaced scripts, of each occurrence of a query term of that script."""
    unspaced = {term.decode("utf-8"): term for term in query_terms if _UNSPACED.search(term.decode("utf-8"))}
    # Of an unspaced word's characters and pairs, the pairs: its single characters alone match too widely.
    unspaced_terms = [(needle, term) for needle, term in unspaced.items()
                      if not any(needle != other and needle in other for other in unspaced)]
    found = []
    for run in _RUN.finditer(text):
        word = run.group()
        if unspaced_terms and _UNSPACED.search(word):
            folded = word.casefold()
            for needle, term in unspaced_terms:
                position = folded.find(needle)
                while position >= 0:
                    found.append((run.start() + position, run.start() + position + len(needle), term))
                    position = folded.find(needle, position + 1)
            continue
        held = [term for term in analyzer.terms(word) if term in query_terms]
        if held:
            found.append((run.start(), run.end(), held[0]))
    return sorted(found)


def _best_start(matches: list[tuple[int, int, bytes]], width: int) -> int:
    """Where the window with the most distinct terms starts: a little before its first match (up to a
    fifth of the window, as far as its last match allows), so that the passage gives the words before."""
    best, best_start = -1, 0
    held: dict[bytes, int] = {}  # terms in the window matches[i:j], counted: one pass, two pointers
    j = 0
    for i, (start, _, _) in enumerate(matches):
        while j < len(matches) and (j <= i or matches[j][1] <= start + width):
            held[matches[j][2]] = held.get(matches[j][2], 0) + 1
            j += 1
        if len(held) > best:
            slack = start + width - max(matches[i][1], matches[j - 1][1])
            best, best_start = len(held), max(0, start - min(width // 5, max(0, slack)))
        held[matches[i][2]] -= 1
        if not held[matches[i][2]]:
            del held[matches[i][2]]
    return best_start


def _window(text: str, start: int, width: int) -> tuple[int, int]:
    """The span of at most ``width`` characters from ``start``, moved to whole words."""
    if start > 0 and text[start - 1] != " ":  # mid-word: from the next word
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + width // 4 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end + 1)
        end = space if space > start + width // 2 else end
    return start, end
