"""Bytes as people's files hold them, to text: byte-order marks, UTF-16, legacy encodings, HTML.

A file is decoded by the first rule that applies: a byte-order mark names its encoding (UTF-8, UTF-16,
UTF-32) and is dropped; text that is valid UTF-8 is UTF-8; anything else is decoded by the encoding
charset-normalizer finds most likely (cp1252, Latin-1, KOI8-R, Shift JIS, ...), and the caller is told
which, so a report can name the files that needed a guess. HTML becomes its visible text, read by the
standard library's HTML parser (tolerant of broken markup), its ``<title>`` kept apart.
"""
from __future__ import annotations

import codecs
from dataclasses import dataclass
from html.parser import HTMLParser

BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),  # before UTF-16: FF FE 00 00
        (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
SNIFF_BYTES = 1 << 16  # how much of a large file the encoding is judged from


@dataclass(frozen=True)
class Decoded:
    """A file's text, and the encoding it was guessed to be in (None: UTF-8, or named by a BOM)."""

    text: str
    guessed: str | None = None


def bom_encoding(head: bytes) -> str | None:
    """The encoding a byte-order mark at the start of ``head`` names (Python's codec that drops it), or None."""
    for bom, encoding in BOMS:
        if head.startswith(bom):
            return encoding
    return None


def sniff_encoding(head: bytes) -> tuple[str, bool]:
    """(codec, guessed) for a file that starts with ``head``: by its BOM; UTF-8 when ``head`` is valid
    UTF-8 (a character cut at its end allowed); else charset-normalizer's most likely encoding
    (``guessed`` True). For readers that stream a file too large to judge whole."""
    named = bom_encoding(head)
    if named:
        return named, False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8", False
    except UnicodeDecodeError:
        return _most_likely(head), True


def decode_bytes(raw: bytes) -> Decoded:
    """The text of a whole file's bytes (see the module's rules); NUL characters dropped."""
    named = bom_encoding(raw)
    if named:
        return Decoded(raw.decode(named, errors="replace").replace("\x00", ""))
    try:
        return Decoded(raw.decode("utf-8").replace("\x00", ""))
    except UnicodeDecodeError:
        encoding = _most_likely(raw[:SNIFF_BYTES * 4])
        return Decoded(raw.decode(encoding, errors="replace").replace("\x00", ""), guessed=encoding)


def looks_binary(raw: bytes) -> bool:
    """Whether a file is binary rather than text: a NUL byte in its first 8 KiB that no UTF-16 or UTF-32
    byte-order mark explains."""
    return b"\x00" in raw[:8192] and bom_encoding(raw) not in ("utf-16", "utf-32")


def _most_likely(sample: bytes) -> str:
    from charset_normalizer import from_bytes  # imported when a file needs it: most are UTF-8

    best = from_bytes(sample).best()
    return best.encoding if best is not None else "cp1252"


class _VisibleText(HTMLParser):
    """Collects an HTML page's visible text (blocks on lines of their own) and its title."""

    HIDDEN = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe"})
    BLOCKS = frozenset({"p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header",
                        "footer", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "dd", "dt", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "body":  # a head left open ends where the body starts
            self._hidden = 0
        elif tag in self.HIDDEN:
            self._hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self.HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._hidden:
            self.parts.append(data)


def html_text(markup: str) -> tuple[str, str]:
    """(title, visible text) of an HTML page: text outside scripts, styles and the head, entities
    resolved, each block on its own line and runs of spaces collapsed."""
    parser = _VisibleText()
    parser.feed(markup)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return " ".join("".join(parser.title).split()), "\n".join(line for line in lines if line)
