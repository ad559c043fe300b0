"""Records (a JSON object, a CSV row, a Parquet row, a dict) to ``Document``: which fields are the id,
the text and the title, and what type a CSV value has.

``Fields`` names them: by default the id is ``id`` and the text ``text``; several text fields are joined
(a title, then a body), and a title field is kept in the metadata as ``title`` too (the search page
heads each hit with it). Every other field is metadata, as given. CSV cells are all strings on disk; they
are typed the way ``--where`` values are (integers, decimals, true/false, else the string), so that a
filter such as ``price<500`` matches what a JSON record would have held; an empty cell is absent.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hashsearch.errors import CorpusError, InvalidParameterError


@dataclass(frozen=True)
class Fields:
    """Which fields of a record make a document.

    id: the field holding the document's id (any scalar; kept as a string).
    text: the fields whose values, joined by a blank line, are the text (absent or empty ones skipped).
    title: a field to show as the document's title (stored in the metadata as ``title``), or None.
    typed: type CSV values (numbers, true/false) instead of keeping every value a string.
    """

    id: str = "id"
    text: tuple[str, ...] = ("text",)
    title: str | None = None
    typed: bool = True

    def check(self) -> Fields:
        """Raise InvalidParameterError naming a field option with no usable value; return self."""
        if not isinstance(self.id, str) or not self.id:
            raise InvalidParameterError(f"id_field must be a non-empty field name. Got {self.id!r} instead.")
        if isinstance(self.text, str) or not self.text or not all(isinstance(f, str) and f for f in self.text):
            raise InvalidParameterError("text_fields must be a non-empty list of field names. "
                                        f"Got {self.text!r} instead.")
        if self.id in self.text:
            raise InvalidParameterError(f"the id field {self.id!r} cannot also be a text field.")
        return self

    def document_parts(self, record: Any, where: str) -> tuple[str, str, dict[str, Any]]:
        """(id, text, metadata) of one record, or a CorpusError naming ``where`` and the field."""
        if not isinstance(record, Mapping):
            raise CorpusError(f"{where}: expected an object with {self.id} and {' and '.join(self.text)}, "
                              f"got {type(record).__name__}.")
        doc_id = record.get(self.id)
        if doc_id is None:
            raise CorpusError(f"{where}: the field {self.id!r} is missing. Every document needs an id "
                              "(name another field with --id-field).")
        if isinstance(doc_id, (dict, list)):
            raise CorpusError(f"{where}: the id field {self.id!r} holds a {type(doc_id).__name__}; "
                              "an id must be a string or a number.")
        doc_id = str(doc_id)
        if not doc_id:
            raise CorpusError(f"{where}: the id is empty. Every document needs a non-empty id.")
        values = [record.get(name) for name in self.text]
        if all(value is None for value in values):
            names = " or ".join(repr(name) for name in self.text)
            raise CorpusError(f"{where}: the field {names} is missing. Every document needs a text "
                              "(name the fields that hold it with --text-field).")
        for name, value in zip(self.text, values, strict=True):
            if value is not None and not isinstance(value, str):
                raise CorpusError(f"{where}: the field {name!r} must be a string, got {type(value).__name__}.")
        text = "\n\n".join(value for value in values if value)
        metadata = {key: value for key, value in record.items() if key != self.id and key not in self.text}
        if self.title is not None and record.get(self.title) is not None:
            metadata["title"] = record[self.title]
        return doc_id, text.replace("\x00", ""), metadata

    def csv_record(self, row: Mapping[str, str]) -> dict[str, Any]:
        """A CSV row with its metadata cells typed (``typed``) and empty ones dropped; the id and text
        fields stay strings."""
        if not self.typed:
            return dict(row)
        keep = {self.id, *self.text}
        return {key: value if key in keep else typed_value(value) for key, value in row.items()
                if value != "" or key in keep}


def typed_value(value: str) -> Any:
    """A value typed as ``--where`` types it, so that a CSV cell and a filter agree: what parses as a JSON
    number (finite) or true/false, else the string itself ("007" and "1,5" stay strings)."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    if isinstance(parsed, bool) or (isinstance(parsed, (int, float)) and math.isfinite(parsed)):
        return parsed
    return parsed if isinstance(parsed, str) else value


def fields_from_options(*, id_field: str | None = None, text_fields: Any = None, title_field: str | None = None,
                        typed: bool = True) -> Fields:
    """``Fields`` from the API's keywords (``text_fields``: a name or a list of names); checked."""
    if isinstance(text_fields, str):
        text_fields = (text_fields,)
    return Fields(id=id_field or "id", text=tuple(text_fields) if text_fields is not None else ("text",),
                  title=title_field, typed=typed).check()

