"""Progress of long steps: a bar with rows and rate on a terminal, plain lines otherwise.

tqdm draws the bar (a well-kept library that handles terminal width, rate smoothing and
redraw); without a terminal (CI, cron, a pipe) each step prints one start and one end line
with no control characters, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """One step at a time: `step(label)`, then `advance(rows)` as they come, then `done()`."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._bar = None
        self._label = ""
        self._rows = 0
        self._start = 0.0

    def step(self, label: str, total: int | None = None) -> None:
        self.done()
        self._label, self._rows, self._start = label, 0, time.perf_counter()
        if not self.enabled:
            return
        if self.tty:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit=" rows", file=self.stream, leave=True)
        else:
            print(f"{label} …", file=self.stream, flush=True)

    def advance(self, rows: int) -> None:
        self._rows += rows
        if self._bar is not None:
            self._bar.update(rows)

    def done(self) -> None:
        if not self._label:
            return
        seconds = time.perf_counter() - self._start
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled:
            rate = f", {self._rows / seconds:,.0f} rows/s" if self._rows and seconds > 0 else ""
            rows = f"{self._rows:,} rows, " if self._rows else ""
            print(f"{self._label}: done ({rows}{seconds:.1f} s{rate})", file=self.stream, flush=True)
        self._label = ""


QUIET = Progress(enabled=False)
