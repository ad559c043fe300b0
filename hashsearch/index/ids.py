"""A segment's document ids as two arrays: their UTF-8 bytes end to end, and where each one ends.

Ten million ids as Python strings cost about 65 bytes each (the object, its pointer in an array) and,
read back from a saved segment, a JSON parse of every one on each opening. Kept as bytes and offsets
they cost their length plus 8 bytes, are views of the saved segment (mapped, shared by the processes
on a machine that open one index), and a string is made only for an id a search returns.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

_FEW = 32  # up to this many rows (a search's page), a slice each; past it, one numpy gather


class IdColumn:
    """Ids by row: ``column[row]`` is a ``str``; ``column[rows]`` (integers or a mask) an object array
    of them, as numpy indexing gives; ``subset`` a column of those rows."""

    dtype = np.dtype(object)  # what indexing with rows gives, for code that also indexes numpy arrays

    def __init__(self, data: np.ndarray, ends: np.ndarray) -> None:
        """``data``: the ids' UTF-8 bytes end to end (uint8); ``ends``: where each id's bytes end (int64,
        ascending; the first starts at 0)."""
        self.data = data
        self.ends = ends

    @classmethod
    def from_strings(cls, ids: Sequence[str]) -> IdColumn:
        """The column of ``ids`` in this order."""
        encoded = [doc_id.encode("utf-8") for doc_id in ids]
        ends = np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), dtype=np.int64)
        return cls(np.frombuffer(b"".join(encoded), dtype=np.uint8), ends)

    def __len__(self) -> int:
        return len(self.ends)

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes + self.ends.nbytes)

    def __getitem__(self, rows: Any) -> Any:
        if isinstance(rows, (int, np.integer)):
            row = int(rows) + (len(self) if rows < 0 else 0)
            if not 0 <= row < len(self):
                raise IndexError(f"row {int(rows)} is out of bounds for {len(self)} ids")
            start = int(self.ends[row - 1]) if row else 0
            return self.data[start:int(self.ends[row])].tobytes().decode("utf-8")
        chosen = self._rows(rows)
        out = np.empty(len(chosen), dtype=object)
        out[:] = self._strings(chosen)
        return out

    def _rows(self, rows: Any) -> np.ndarray:
        """``rows`` (a slice, integers, or a mask) as non-negative row numbers, checked as numpy would."""
        if isinstance(rows, slice):
            return np.arange(*rows.indices(len(self)))
        rows = np.asarray(rows)
        if rows.dtype == bool:
            if rows.shape != (len(self),):
                raise IndexError(f"a mask of {rows.shape} for {len(self)} ids")
            return np.flatnonzero(rows)
        rows = rows.astype(np.int64, copy=False).ravel()
        if len(rows) and rows.min() < 0:
            rows = np.where(rows < 0, rows + len(self), rows)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"rows out of bounds for {len(self)} ids")
        return rows

    def _strings(self, rows: np.ndarray) -> list[str]:
        """The ids at ``rows`` (valid, non-negative): their bytes gathered into one buffer by numpy,
        then each decoded from its slice of it."""
        if len(rows) <= _FEW:
            ends, data = self.ends, self.data
            return [data[int(ends[row - 1]) if row else 0:int(ends[row])].tobytes().decode("utf-8")
                    for row in rows.tolist()]
        ends = self.ends[rows]
        lengths = ends - np.where(rows > 0, self.ends[rows - 1], 0)
        local_ends = np.cumsum(lengths)
        local_starts = local_ends - lengths
        gather = np.arange(int(local_ends[-1]), dtype=np.int64) + np.repeat(ends - local_ends, lengths)
        joined = self.data[gather].tobytes()
        return [joined[start:end].decode("utf-8")
                for start, end in zip(local_starts.tolist(), local_ends.tolist(), strict=True)]

    def subset(self, rows: np.ndarray) -> IdColumn:
        """The column of the ids at ``rows`` (integers), in that order."""
        return IdColumn.from_strings(self[np.asarray(rows, dtype=np.int64)].tolist())

    def tolist(self) -> list[str]:
        text = self.data.tobytes()
        starts = [0, *self.ends[:-1].tolist()] if len(self) else []
        return [text[start:end].decode("utf-8") for start, end in zip(starts, self.ends.tolist(), strict=True)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tolist())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.empty(len(self), dtype=object)
        out[:] = self.tolist()
        return out if dtype is None else out.astype(dtype)
