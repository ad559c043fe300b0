"""Named numpy arrays as one self-describing byte string, read back as views of it (no copy, no pickle).

    8 bytes: the header's length H (little-endian)
    H bytes: a JSON header: {"meta": ..., "arrays": [[name, dtype, shape, offset], ...]}
    then each array's bytes, C order, at its offset (a multiple of 64, so that every view is aligned);
    the last array's last byte ends the buffer

An .npz archive copies each array out of its zip member when read: at ten million documents a saved
segment is a GB, and that copy cost seconds and doubled the memory of opening. Views cost neither;
they are read-only, as a segment's arrays are.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

_ALIGN = 64


def pack(arrays: Mapping[str, np.ndarray], meta: Any) -> memoryview:
    """``arrays`` (numeric dtypes) and ``meta`` (anything JSON holds) as one buffer."""
    table, offset, end = [], 0, 0
    for name, array in arrays.items():
        table.append([name, array.dtype.str, list(array.shape), offset])
        end = offset + array.nbytes  # the last array ends the buffer: no padding after it
        offset += -(-array.nbytes // _ALIGN) * _ALIGN
    header = json.dumps({"meta": meta, "arrays": table}).encode("utf-8")
    start = -(-(8 + len(header)) // _ALIGN) * _ALIGN
    out = bytearray(start + end)
    out[:8] = len(header).to_bytes(8, "little")
    out[8:8 + len(header)] = header
    for (_, _, _, at), array in zip(table, arrays.values(), strict=True):
        if array.size:  # copied straight into place (a GB-sized array makes no temporary copy)
            np.frombuffer(out, dtype=array.dtype, count=array.size, offset=start + at).reshape(array.shape)[...] = array
    return memoryview(out)


def unpack(data: bytes | bytearray | memoryview) -> tuple[Any, dict[str, np.ndarray]] | None:
    """(meta, arrays as read-only views of ``data``) of what ``pack`` made, or None when ``data`` is
    not that (another format, or cut short)."""
    view = memoryview(data).cast("B")
    try:
        size = int.from_bytes(view[:8], "little")
        if not 0 < size <= len(view) - 8:
            return None
        header = json.loads(bytes(view[8:8 + size]).decode("utf-8"))
        start = -(-(8 + size) // _ALIGN) * _ALIGN
        arrays, end = {}, start
        for name, dtype, shape, offset in header["arrays"]:
            kind = np.dtype(dtype)
            if kind.hasobject:
                return None
            count = int(np.prod(shape, dtype=np.int64))
            end = start + offset + count * kind.itemsize
            if end > len(view):
                return None
            array = (np.frombuffer(view, dtype=kind, count=count, offset=start + offset).reshape(shape) if count
                     else np.empty(shape, dtype=kind))
            array.flags.writeable = False
            arrays[name] = array
        return (header["meta"], arrays) if end == len(view) else None  # else cut short, or more than was packed
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None
