"""Progress display for the atlas: rich bars on a terminal, one plain line per plate otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterable


class ProgressUI:
    def __init__(self, enabled: bool = True, total: int = 0):
        self.enabled = enabled
        self.total = total
        self.count = 0
        self.tty = enabled and sys.stderr.isatty()
        self._progress = None
        self._task = None

    def __enter__(self) -> ProgressUI:
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task("atlas", total=self.total)
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def start(self, name: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=f"atlas: {name}")
        elif self.enabled:
            print(f"[{self.count + 1}/{self.total}] {name} ...", file=sys.stderr, flush=True)

    def note(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message)
        elif self.enabled:
            print(message, file=sys.stderr, flush=True)

    def done(self, name: str, row: dict) -> None:
        self.count += 1
        if self._progress is not None:
            self._progress.advance(self._task)
        elif self.enabled:
            extra = f" ({row['verdict']})" if row.get("verdict") else ""
            err = f": {row['error']}" if row.get("error") else ""
            print(f"[{self.count}/{self.total}] {name} {row['status']} in {row['seconds']:.1f}s{extra}{err}",
                  file=sys.stderr, flush=True)

    def track(self, iterable: Iterable, total: int | None = None, description: str = "") -> Iterable:
        if self._progress is None:
            yield from iterable
            return
        if total is None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        t = self._progress.add_task(f"  {description}", total=total)
        try:
            for x in iterable:
                yield x
                self._progress.advance(t)
        finally:
            self._progress.remove_task(t)
