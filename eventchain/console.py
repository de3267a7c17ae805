"""Terminal helpers: progress bars only on a TTY, quiet otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text


class CountColumn(ProgressColumn):
    """``done/total``, or just ``done`` while the total is unknown (a file read as it streams)."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text(f"{task.completed:,.0f}")
        return Text(f"{task.completed:,.0f}/{task.total:,.0f}")


@contextmanager
def progress(description: str, total: float | None) -> Iterator[Callable[[float], None]]:
    """Yields ``advance(n)``; draws a bar on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        yield lambda _: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        CountColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
