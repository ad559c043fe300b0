"""Filters on metadata: a ``where`` dict (Chroma's convention) evaluated as one mask over all documents.

The metadata fields are held as columns built when the index opens (and after each write), so a
filter costs a few vectorised comparisons, never a database query. A field's scalar values are kept
two ways: numbers in a float column (for comparisons), every scalar as a category code (for equality
and membership). A list value matches equality and ``$in`` element-wise (a document tagged
``["a", "b"]`` matches ``{"tag": "a"}``); comparisons never match a list, and nested objects are not
filterable.

    {"lang": "en"}                                   equals
    {"year": {"$gte": 2020}}                         $eq $ne $gt $gte $lt $lte $in $nin
    {"$and": [{...}, {...}]}, {"$or": [...]}
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InvalidParameterError

COMPARISONS = ("$gt", "$gte", "$lt", "$lte")
OPERATORS = ("$eq", "$ne", *COMPARISONS, "$in", "$nin")
_NUMBER_OPS = {"$gt": np.greater, "$gte": np.greater_equal, "$lt": np.less, "$lte": np.less_equal}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _category_key(value: Any) -> str:
    """One key per scalar, so that 1 and 1.0 are equal and true and "true" are not."""
    return json.dumps(float(value) if _is_number(value) else value)


class _Field:
    """One metadata field over all rows: numbers, category codes, and list elements."""

    def __init__(self, n_rows: int) -> None:
        self.numbers = np.full(n_rows, np.nan)
        self.categories: dict[str, int] = {}
        self.scalar_codes = np.full(n_rows, -1, dtype=np.int32)
        self.list_rows: list[int] = []
        self.list_codes: list[int] = []
        self.present = np.zeros(n_rows, dtype=bool)

    def code(self, value: Any) -> int:
        return self.categories.setdefault(_category_key(value), len(self.categories))

    def add(self, row: int, value: Any) -> None:
        if isinstance(value, list):
            scalars = [v for v in value if v is None or isinstance(v, (str, int, float, bool))]
            self.list_rows += [row] * len(scalars)
            self.list_codes += [self.code(v) for v in scalars]
        elif value is None or isinstance(value, (str, int, float, bool)):
            self.scalar_codes[row] = self.code(value)
            if _is_number(value) and math.isfinite(value):
                self.numbers[row] = value
        else:
            return  # nested objects are stored, not filterable
        self.present[row] = True

    def freeze(self) -> None:
        if np.isnan(self.numbers).all():  # a field of strings needs no number column
            self.numbers = np.empty(0)
        self.list_rows_ = np.asarray(self.list_rows, dtype=np.int64)
        self.list_codes_ = np.asarray(self.list_codes, dtype=np.int32)
        del self.list_rows, self.list_codes

    def equals_any(self, values: Sequence[Any]) -> np.ndarray:
        codes = [self.categories[key] for key in map(_category_key, values) if key in self.categories]
        mask = np.isin(self.scalar_codes, codes)
        if len(self.list_rows_) and codes:
            mask[self.list_rows_[np.isin(self.list_codes_, codes)]] = True
        return mask


class MetadataColumns:
    """The filterable columns of every document; rows are the code index's rows. Immutable once built."""

    def __init__(self, metadata: Sequence[Mapping[str, Any]]) -> None:
        self.n_rows = len(metadata)
        self._fields: dict[str, _Field] = {}
        for row, record in enumerate(metadata):
            for name, value in record.items():
                if name not in self._fields:
                    self._fields[name] = _Field(self.n_rows)
                self._fields[name].add(row, value)
        for column in self._fields.values():
            column.freeze()

    @property
    def fields(self) -> list[str]:
        return sorted(self._fields)

    @property
    def nbytes(self) -> int:
        return sum(c.numbers.nbytes + c.scalar_codes.nbytes + c.present.nbytes + c.list_rows_.nbytes
                   + c.list_codes_.nbytes for c in self._fields.values())

    def mask(self, where: Mapping[str, Any], fields: Sequence[str] | None = None) -> np.ndarray:
        """Rows that match ``where``; raises InvalidParameterError naming what is wrong with it.

        ``fields``: every field name the index knows (default: these columns'); a field that only other
        documents have is one these rows all lack."""
        if not isinstance(where, Mapping):
            raise InvalidParameterError(f"where must be a dict such as {{\"lang\": \"en\"}}. Got {where!r} instead.")
        mask = np.ones(self.n_rows, dtype=bool)
        for key, condition in where.items():
            mask &= self._clause(key, condition, self.fields if fields is None else fields)
        return mask

    def _clause(self, key: str, condition: Any, fields: Sequence[str]) -> np.ndarray:
        if key in ("$and", "$or"):
            if not isinstance(condition, list) or not condition:
                raise InvalidParameterError(f"{key} takes a non-empty list of filters. Got {condition!r} instead.")
            masks = [self.mask(part, fields) for part in condition]
            return np.logical_and.reduce(masks) if key == "$and" else np.logical_or.reduce(masks)
        if key.startswith("$"):
            raise InvalidParameterError(f"unknown filter operator {key!r} at the top level: use a field name, "
                                        "$and or $or.")
        if key not in fields:
            raise InvalidParameterError(f"no document has a metadata field {key!r}. "
                                        f"Fields: {', '.join(fields) or 'none'}.")
        if not isinstance(condition, Mapping):
            condition = {"$eq": condition}
        mask = np.ones(self.n_rows, dtype=bool)
        for operator, value in condition.items():
            mask &= self._compare(key, operator, value)
        return mask

    def _compare(self, name: str, operator: str, value: Any) -> np.ndarray:
        if operator not in OPERATORS:
            raise InvalidParameterError(f"unknown filter operator {operator!r} on {name!r}. "
                                        f"Operators: {', '.join(OPERATORS)}.")
        if operator in COMPARISONS and not _is_number(value):
            raise InvalidParameterError(f"{operator} on {name!r} needs a number. Got {value!r} instead.")
        if operator in ("$in", "$nin") and not isinstance(value, list):
            raise InvalidParameterError(f"{operator} on {name!r} needs a list of values. Got {value!r} instead.")
        if operator in ("$eq", "$ne") and isinstance(value, (list, dict)):
            raise InvalidParameterError(f"{operator} on {name!r} needs a single value; use $in for several. "
                                        f"Got {value!r} instead.")
        column = self._fields.get(name)
        if column is None:  # a field only other documents have: no row here matches a value
            return np.full(self.n_rows, operator in ("$ne", "$nin"))
        if operator in COMPARISONS:
            if not len(column.numbers):
                return np.zeros(self.n_rows, dtype=bool)
            with np.errstate(invalid="ignore"):
                return _NUMBER_OPS[operator](column.numbers, value)
        matches = column.equals_any(value if operator in ("$in", "$nin") else [value])
        return matches if operator in ("$eq", "$in") else ~matches
