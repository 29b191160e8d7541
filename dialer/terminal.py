"""What the CLI draws on a terminal and nowhere else: progress bars for long commands
(`dialer accounts import`, `dialer payments import`, `dialer campaign launch`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click


@contextmanager
def terminal_progress(
    total: int, label: str, *, quiet: bool = False
) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal, fed with how many of `total` are done so far; None
    (nothing drawn) when stdout is not a terminal, so scripts and --json output stay as
    they were."""
    if quiet or total <= 0 or not sys.stdout.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, show_pos=True, show_percent=True) as bar:
        shown = 0

        def advance(done: int) -> None:
            nonlocal shown
            if done > shown:
                bar.update(done - shown)
                shown = done

        yield advance
