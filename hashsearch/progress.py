"""One progress-bar helper for every long step, so quiet mode is decided in one place."""
from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def show_progress(quiet: bool) -> bool:
    """Bars are drawn only on a terminal and only when the user did not ask for quiet."""
    return not quiet and sys.stderr.isatty()


def progress(items: Iterable[T], *, desc: str, quiet: bool, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Wrap ``items`` in a tqdm bar on stderr unless progress is hidden."""
    if not show_progress(quiet):
        yield from items
        return
    yield from tqdm(items, desc=desc, total=total, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)


def progress_bar(*, desc: str, quiet: bool, total: int | None = None, unit: str = "it") -> tqdm:
    """A manually updated bar (for loops that report loss); disabled when progress is hidden."""
    return tqdm(desc=desc, total=total, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True,
                disable=not show_progress(quiet))
