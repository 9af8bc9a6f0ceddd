"""Progress a person can follow: step, family, z, counts and time left."""
from __future__ import annotations

import sys
import time


def format_seconds(seconds: float) -> str:
    """``seconds`` as a person reads a duration: ``42s``, ``3m05s``, ``2h07m``."""
    seconds = round(float(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Counts runs done, skipped (already complete) and failed; estimates the
    time left from the runs that actually ran.

    ``weights`` (one per run, optional) are the runs' expected relative costs,
    e.g. a family's seconds per epoch; the estimate is then the seconds per
    unit of weight so far times the weight still to run, so that a cheap
    family finishing first does not make an expensive one look short.
    """

    def __init__(self, total: int, *, label: str = "", stream=None, weights=None) -> None:
        self.total = int(total)
        self.label = label
        self.stream = stream or sys.stdout
        self.weights = [1.0] * self.total if weights is None else [float(w) for w in weights]
        if len(self.weights) != self.total:
            raise ValueError(f"Expected {self.total} weights. Received: {len(self.weights)}")
        self.done = self.skipped = self.failed = 0
        self.run_seconds = 0.0
        self.ran = 0
        self.ran_weight = 0.0
        self.start = time.perf_counter()
        self.concurrency = 1  # runs going on at once (the estimate divides by it)
        self.weight_left = sum(self.weights)
        self.started = 0

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed

    def eta(self) -> str:
        remaining = self.total - self.finished
        if remaining <= 0:
            return "0s"
        if self.ran == 0 or self.ran_weight <= 0:
            return "?"
        per_weight = self.run_seconds / self.ran_weight / max(1, self.concurrency)
        return format_seconds(max(0.0, self.weight_left) * per_weight)

    def starting(self, what: str) -> None:
        self.started += 1
        print(f"[{self.label}] {self.started}/{self.total} {what} … (ETA {self.eta()})", file=self.stream, flush=True)

    def update(self, result, *, weight: float | None = None) -> None:
        """Count ``result``; ``weight`` is its run's weight when runs finish out of order (else the next one's)."""
        if weight is None:
            weight = self.weights[self.finished] if self.finished < self.total else 0.0
        self.weight_left -= weight
        if result.status != "skipped":
            self.ran_weight += weight
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
        note = {"skipped": "already complete", "failed": f"FAILED: {result.error}"}.get(result.status,
                                                                                      f"{result.seconds:.1f}s")
        print(
            f"[{self.label}]   {result.status} ({note}); done {self.done}, skipped {self.skipped}, "
            f"failed {self.failed} of {self.total}; ETA {self.eta()}",
            file=self.stream,
            flush=True,
        )

    def summary(self) -> str:
        return (
            f"[{self.label}] finished in {format_seconds(time.perf_counter() - self.start)}: {self.done} ran, "
            f"{self.skipped} already complete, {self.failed} failed, of {self.total} runs."
        )
