"""Text analysis: the one definition of a term, for the model's vocabulary, the word index and queries.

A text becomes terms in five steps, the same for documents and queries:

1. Unicode NFKC (full-width letters, ligatures and compatibility forms become their plain letters) and
   case folding (``str.casefold``: "Straße" and "STRASSE" meet);
2. accents folded: the combining marks of Latin and Greek letters are dropped after canonical
   decomposition, so "café", "cafe" and an NFD-typed "cafe\\u0301" are one term (Cyrillic letters keep
   theirs: й is not и), and a few letters without a decomposition are spelled out (ø, æ, œ, ł, đ, þ);
3. tokens: runs of letters and digits; "c++", "c#", "f#" and ".net" kept whole, and so are dotted or
   hyphenated runs that hold a digit ("x86-64", "3.14"); in scripts written without spaces (Han,
   Hiragana, Katakana, Hangul, Thai) each character and each pair of neighbouring characters is a
   term, so that "北京" finds "北京大学" and a one-character query still matches (Lucene's CJK bigrams
   with unigrams);
4. the language's stop words dropped (English: Lucene's 33, the list bm25s uses too);
5. words of letters stemmed with the language's Snowball stemmer (PyStemmer): "dogs" meets "dog".

The model's vocabulary, which should hold words that say what a text is about, also leaves out a
longer list (``is_vocabulary_term``; English: Snowball's). ``language=None`` keeps every token as it is
(no stop words, no stemming). benchmarks/RESULTS.md (ir-collections, user-queries) measures these
choices: keeping the 33 in the word index cost BM25 on long queries more than it gave titles. The analysis is saved with
the index (``to_dict``, with ``ANALYSIS_VERSION``) so that documents and queries are always analysed
alike; an index built before it existed keeps the analysis it was built with (``LegacyAnalyzer``).
"""
from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable
from typing import Any

import Stemmer

from hashsearch.errors import InvalidParameterError

ANALYSIS_VERSION = 1
DEFAULT_LANGUAGE = "english"
LANGUAGES = tuple(name for name in Stemmer.algorithms() if name != "porter")

# Lucene's English stop words (EnglishAnalyzer's default set), dropped from every text's terms.
_LUCENE_ENGLISH = ("a an and are as at be but by for if in into is it no not of on or such that the their then "
                   "there these they this to was will with")
SEARCH_STOP_WORDS: dict[str, frozenset[str]] = {"english": frozenset(_LUCENE_ENGLISH.split())}
# Words that say nothing of a text's subject, left out of the model's vocabulary: Snowball's English
# stop-word list (with the pieces its contractions split into), and a few modal and filler words.
_SNOWBALL_ENGLISH = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
    herself it its itself they them their theirs themselves what which who whom this that these those am is
    are was were be been being have has had having do does did doing would should could ought a an the and
    but if or because as until while of at by for with about against between into through during before after
    above below to from up down in out on off over under again further then once here there when where why how
    all any both each few more most other some such no nor not only own same so than too very cannot
    isn aren wasn weren hasn haven hadn doesn don didn won wouldn shan shouldn couldn mustn ll ve re
    also may might must shall will can us much many even etc"""
VOCABULARY_STOP_WORDS: dict[str, frozenset[str]] = {"english": frozenset(_SNOWBALL_ENGLISH.split())}

# Scripts written without spaces between words: Thai, Hiragana, Katakana, CJK ideographs, Hangul.
_UNSPACED = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff"
_UNSPACED_RUN = re.compile(f"[{_UNSPACED}]+")
_TOKEN = re.compile(
    r"(?<![\w.])\.net(?!\w)"                           # .NET
    r"|[^\W_]+(?:\+\+|#)(?![\w+#])"                    # C++, C#, F#
    r"|[^\W_]+(?:[.\-][^\W_]+)+"                        # dotted or hyphenated runs (split unless they hold a digit)
    r"|[^\W_]+")                                       # letters and digits
_CHUNK = re.compile(r"(?:[^\W_]|[+#.\-])+")  # what ``_TOKEN`` matches lies within such runs
# ASCII bytes to chunks: letters lower-cased, digits and "+#.-" kept, every other byte a space.
_ASCII_CHUNKS = bytes(ord(chr(b).lower()) if chr(b).isalnum() or chr(b) in "+#.-" else ord(" ") for b in range(128)) \
    + b" " * 128
_HAS_DIGIT = re.compile(r"\d")
_SPLIT_JOINED = re.compile(r"[.\-]")
_COMBINING = re.compile("(?<=[\u0000-\u03ff])[\u0300-\u036f]+")  # the accents of Latin and Greek letters
_SPELLED_OUT = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "þ": "th", "ð": "d",
                              "ı": "i"})


def normalize(text: str) -> str:
    """NFKC, case folded, accents folded (steps 1 and 2 of the module docstring)."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text).casefold()
    return unicodedata.normalize("NFC", _COMBINING.sub("", unicodedata.normalize("NFD", text))).translate(
        _SPELLED_OUT)


def _split(token: str) -> list[str]:
    """One match of ``_TOKEN`` as tokens: a joined run without a digit in its parts, a run holding
    characters of scripts without spaces as ``_unspaced`` cuts it, anything else whole."""
    if ("." in token[1:] or "-" in token) and not _HAS_DIGIT.search(token):
        return [piece for part in _SPLIT_JOINED.split(token) for piece in _split(part)]
    if token.isascii() or not _UNSPACED_RUN.search(token):
        return [token]
    return _unspaced(token)


def _unspaced(token: str) -> list[str]:
    """A token holding characters of scripts without spaces: its other runs whole, each unspaced run as
    its characters and the pairs of neighbours."""
    out: list[str] = []
    position = 0
    for run in _UNSPACED_RUN.finditer(token):
        if run.start() > position:
            out.append(token[position:run.start()])
        chars = run.group()
        out += list(chars) + [chars[i:i + 2] for i in range(len(chars) - 1)]
        position = run.end()
    if position < len(token):
        out.append(token[position:])
    return out


class Analyzer:
    """Text to terms (UTF-8 bytes, as the word index hashes them and the vocabulary looks them up).

    ``language``: a Snowball stemmer's name (``LANGUAGES``; English by default) whose stemmer and stop
    words (where the module has a list for it) apply, or None for neither."""

    version = ANALYSIS_VERSION

    def __init__(self, language: str | None = DEFAULT_LANGUAGE) -> None:
        if language is not None and language not in LANGUAGES:
            raise InvalidParameterError(f"language must be one of {', '.join(LANGUAGES)}, or none. "
                                        f"Got {language!r} instead.")
        self.language = language
        self._stemmer = Stemmer.Stemmer(language) if language else None
        self._stop = SEARCH_STOP_WORDS.get(language, frozenset()) if language else frozenset()
        stop_words = VOCABULARY_STOP_WORDS.get(language, frozenset()) if language else frozenset()
        self._stop_terms = frozenset(stop_words) | {self._stem(word).decode("utf-8") for word in stop_words}
        # One pair of caches for every analyzer of a language in the process: a build, the queries and a
        # reopen of the same index then analyse each distinct chunk once.
        shared = _SHARED_CACHES.get(language)
        if shared is None:
            terms_of = _TermCache(self._analyse)
            ascii_terms_of = _TermCache(lambda chunk: terms_of[chunk.decode("ascii")])
            shared = _SHARED_CACHES.setdefault(language, (terms_of, ascii_terms_of))
        self._terms_of, self._ascii_terms_of = shared

    def terms(self, text: str) -> list[bytes]:
        """The text's terms, in order, repeated as often as they occur.

        The text is cut into chunks, maximal runs of letters, digits and the characters a token may
        hold inside (``+#.-``), and each chunk's terms are looked up (``_TermCache``, which holds them
        joined by spaces: one ``join`` and ``split`` then flatten them in C). Most chunks are words seen
        before. ASCII text, most text, is cut by one ``bytes.translate`` and ``split``, folding case on
        the way: a regular expression over the text took several times as long."""
        if text.isascii():
            chunks = text.encode("ascii").translate(_ASCII_CHUNKS).split()
            return b" ".join(map(self._ascii_terms_of.__getitem__, chunks)).split()
        return b" ".join(map(self._terms_of.__getitem__, _CHUNK.findall(normalize(text)))).split()

    def _analyse(self, chunk: str) -> bytes:
        """The terms of one normalised chunk, joined by spaces: its tokens less stop words, stemmed, as
        UTF-8."""
        return b" ".join(self._stem(part) for token in _TOKEN.findall(chunk) for part in _split(token)
                         if part not in self._stop)

    def _stem(self, token: str) -> bytes:
        if self._stemmer is not None and token.isalpha():
            token = self._stemmer.stemWord(token)
        return token.encode("utf-8")

    def is_vocabulary_term(self, term: str) -> bool:
        """Whether the model's vocabulary may hold a term: letters only (numbers and symbols carry little
        topic), two or more of them unless they are of a script written without spaces, and no stop word."""
        return term.isalpha() and (len(term) > 1 or bool(_UNSPACED_RUN.match(term))) and term not in self._stop_terms

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "language": self.language}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Analyzer) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.version, self.language))


class LegacyAnalyzer(Analyzer):
    """The analysis of indexes built before ``ANALYSIS_VERSION`` 1: lower-cased ASCII-minded runs of two or
    more word characters, unstemmed (their vocabulary dropped scikit-learn's English stop words when it
    was learned). Kept so that such an index reads its stored words and its queries alike."""

    version = 0
    _RUNS = re.compile(r"\w\w+")
    _FOLD = bytes(ord(chr(b).lower()) if chr(b) in string.ascii_letters + string.digits + "_" else ord(" ")
                  for b in range(256))

    def __init__(self) -> None:
        super().__init__(None)

    def terms(self, text: str) -> list[bytes]:
        if text.isascii():
            return [run for run in text.encode("ascii").translate(self._FOLD).split() if len(run) > 1]
        return [run.encode("utf-8") for run in self._RUNS.findall(text.lower())]

    def is_vocabulary_term(self, term: str) -> bool:
        return re.fullmatch(r"[^\W\d_][^\W\d_]+", term) is not None


class _TermCache(dict):
    """chunk -> its terms joined by spaces, computed on first sight: a text's chunks are mostly words
    seen before, and a dictionary look-up is a fraction of stemming and encoding one again. Cleared when
    it holds ``LIMIT`` chunks (a large corpus's numbers and misspellings)."""

    LIMIT = 500_000

    def __init__(self, analyse: Callable[[Any], bytes]) -> None:
        super().__init__()
        self._analyse = analyse

    def __missing__(self, chunk: Any) -> bytes:
        if len(self) >= self.LIMIT:
            self.clear()
        terms = self[chunk] = self._analyse(chunk)
        return terms


_SHARED_CACHES: dict[str | None, tuple[_TermCache, _TermCache]] = {}


def analyzer_from_dict(state: dict[str, Any] | None) -> Analyzer:
    """The analyzer ``Analyzer.to_dict`` saved; None (nothing saved) is the legacy analysis."""
    if state is None:
        return LegacyAnalyzer()
    if state.get("version") != ANALYSIS_VERSION:
        raise ValueError(f"unsupported text analysis version {state.get('version')!r}")
    return Analyzer(state.get("language"))
