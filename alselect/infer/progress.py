"""A one-line progress display with throughput for `alselect infer`, on stderr.

Drawn only when stderr is a terminal (redrawn at most every REFRESH_S seconds); the final
summary line is printed by the command either way.
"""

from __future__ import annotations

import sys
import time

REFRESH_S = 0.25


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class Throughput:
    """Counts samples; ``rate`` is samples per second since the first update."""

    def __init__(self, total: int | None, label: str = "infer", stream=None, enabled: bool | None = None):
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.done = 0
        self.start = time.perf_counter()
        self._last = 0.0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    def update(self, n: int) -> None:
        self.done += n
        if self.enabled and (time.perf_counter() - self._last >= REFRESH_S):
            self._draw()

    def _draw(self) -> None:
        self._last = time.perf_counter()
        rate = self.rate
        if self.total:
            eta = (self.total - self.done) / rate if rate > 0 else 0.0
            text = f"{self.label}: {self.done}/{self.total} ({100 * self.done / self.total:.0f}%) {rate:,.1f} samples/s ETA {_duration(eta)}"
        else:
            text = f"{self.label}: {self.done} samples {rate:,.1f} samples/s"
        self.stream.write("\r" + text + "\033[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
