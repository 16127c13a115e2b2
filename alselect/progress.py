"""Progress reporting on stderr, only where a person is watching (stderr is a terminal)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

#: Below this many units of work a bar is not worth drawing.
MIN_TOTAL = 1


@contextmanager
def no_progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda n: None


@contextmanager
def stderr_progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A click progress bar on stderr with rate and ETA; a no-op when stderr is not a TTY."""
    if total < MIN_TOTAL or not sys.stderr.isatty():
        yield lambda n: None
        return
    import click

    # update(n, status) shows a short status string beside the bar (e.g. the current reward)
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True, show_eta=True,
                           item_show_func=lambda item: item if isinstance(item, str) else None) as bar:
        yield bar.update
