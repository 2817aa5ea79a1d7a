"""Progress lines with counts and an estimate of the time left, for stages that take minutes."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("pada.progress")


class Progress:
    """Log ``label: done/total (pct), elapsed, ~left`` as work advances.

    Args:
        label: What is being counted.
        total: How many units make the stage complete.
    """

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = max(total, 0)
        self.start = time.perf_counter()
        log.info("%s: 0/%d", label, self.total)

    def update(self, done: int) -> None:
        """Report that ``done`` units are complete."""
        elapsed = time.perf_counter() - self.start
        if self.total and done:
            left = elapsed / done * max(self.total - done, 0)
            pct = 100 * min(done, self.total) / self.total
            log.info("%s: %d/%d (%.0f%%), %.0f s elapsed, ~%.0f s left", self.label, done, self.total,
                     pct, elapsed, left)  # fmt: skip
        else:
            log.info("%s: %d/%d, %.0f s elapsed", self.label, done, self.total, elapsed)
