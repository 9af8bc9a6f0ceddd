"""Progress a person can follow: step, family, z, counts and time left."""
from __future__ import annotations

import sys
import time


def _fmt(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Counts runs done, skipped (already complete) and failed; estimates the
    time left from the mean duration of the runs that actually ran."""

    def __init__(self, total: int, *, label: str = "", stream=None) -> None:
        self.total = int(total)
        self.label = label
        self.stream = stream or sys.stdout
        self.done = self.skipped = self.failed = 0
        self.run_seconds = 0.0
        self.ran = 0
        self.start = time.perf_counter()

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed

    def eta(self) -> str:
        remaining = self.total - self.finished
        if remaining <= 0:
            return "0s"
        if self.ran == 0:
            return "?"
        return _fmt(remaining * self.run_seconds / self.ran)

    def starting(self, what: str) -> None:
        print(f"[{self.label}] {self.finished + 1}/{self.total} {what} … (ETA {self.eta()})", file=self.stream, flush=True)

    def update(self, result) -> None:
        if result.status == "skipped":
            self.skipped += 1
        elif result.status == "failed":
            self.failed += 1
            self.ran += 1
            self.run_seconds += result.seconds
        else:
            self.done += 1
            self.ran += 1
            self.run_seconds += result.seconds
        note = {"skipped": "already complete", "failed": f"FAILED: {result.error}"}.get(result.status, f"{result.seconds:.1f}s")
        print(
            f"[{self.label}]   {result.status} ({note}); done {self.done}, skipped {self.skipped}, "
            f"failed {self.failed} of {self.total}; ETA {self.eta()}",
            file=self.stream,
            flush=True,
        )

    def summary(self) -> str:
        return (
            f"[{self.label}] finished in {_fmt(time.perf_counter() - self.start)}: {self.done} ran, "
            f"{self.skipped} already complete, {self.failed} failed, of {self.total} runs."
        )
