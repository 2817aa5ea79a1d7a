"""How a round's budget of accepted synthetic items is shared out, and kept track of.

Every method is compared at the same number of accepted synthetic items per round; these helpers
decide how many of them each path (validation patterns, training errors) and each strategy owes,
and :class:`Quotas` counts, attempt by attempt, what each path has asked for and had accepted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: The path whose items are written from training failures, one failure per item.
TRAIN_ERROR = "train_error"


def path_quotas(budget: int, val_share: float, use_val: bool, use_train: bool) -> tuple[int, int]:
    """Split ``budget`` between the validation-pattern path and the training-error path.

    A path that is switched off gives its share to the other, so the total stays ``budget``.

    Returns:
        ``(validation quota, training quota)``.
    """
    if not use_val and not use_train:
        return 0, 0
    if not use_val:
        return 0, budget
    if not use_train:
        return budget, 0
    val = round(budget * val_share)
    return val, budget - val


def proportional(total: int, weights: Sequence[float]) -> list[int]:
    """Share ``total`` out in proportion to ``weights`` (largest remainders), every share an int.

    Example: ``proportional(10, [5, 3, 2]) == [5, 3, 2]``; ``proportional(4, [1, 1, 1]) == [2, 1, 1]``.
    """
    if not weights or total <= 0:
        return [0] * len(weights)
    s = float(sum(weights)) or float(len(weights))
    raw = [total * (w if sum(weights) else 1.0) / s for w in weights]
    shares = [int(r) for r in raw]
    # Ties go to the earlier (larger, since clusters come largest first) weight.
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - shares[i]), i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


def items_to_ask(need: int, accepted: int, asked: int, cap: float = 4.0) -> int:
    """How many items to ask for when ``need`` accepted items are still missing on a path.

    A first attempt asks for ``need``; a later one asks for as many as the path's yield so far
    (accepted / asked) says will give ``need`` accepted items, at most ``cap`` times ``need``.
    """
    if asked <= 0:
        return need
    rate = max(accepted / asked, 1.0 / cap)
    return min(math.ceil(need / rate), math.ceil(need * cap))


@dataclass
class Quotas:
    """Each path's quota of accepted items, and what the generate stage's attempts have asked and got.

    ``failures`` are the training failures that seed the training-error path, one item each. They are
    asked in a queue: failures not asked yet first, then those whose item was rejected (asked again,
    with new rollouts), then, when fewer failures than missing items are left, those whose item was
    accepted (a second item), so that every method can reach the same budget.
    """

    quota: dict[str, int]
    failures: Sequence[Any] = ()
    accepted: dict[str, int] = field(init=False)
    asked: dict[str, int] = field(init=False)  # items asked per path (their yield sizes the next attempt)
    _queue: list[Any] = field(init=False)
    _asking: list[Any] = field(init=False, default_factory=list)  # this attempt's failures

    def __post_init__(self) -> None:
        self.accepted = dict.fromkeys(self.quota, 0)
        self.asked = dict.fromkeys(self.quota, 0)
        self._queue = list(self.failures)

    @property
    def requested(self) -> int:
        """Items asked over all paths and attempts."""
        return sum(self.asked.values())

    def missing(self) -> dict[str, int]:
        """Accepted items each path still lacks (zero or less once its quota is met)."""
        return {p: self.quota[p] - self.accepted[p] for p in self.quota}

    def filled(self, path: str) -> bool:
        """Whether ``path`` has its quota of accepted items."""
        return self.accepted[path] >= self.quota[path]

    @property
    def full(self) -> bool:
        """Whether every path has its quota."""
        return all(self.filled(p) for p in self.quota)

    def ask(self, path: str) -> int:
        """How many items this attempt asks of ``path`` (by its yield so far), counted as asked."""
        n = self._to_ask(path)
        self.asked[path] += n
        return n

    def next_failures(self) -> list[Any]:
        """The training failures this attempt asks an item for, taken off the queue."""
        n = self._to_ask(TRAIN_ERROR)
        if n > len(self._queue):
            waiting = {r.id for r in self._queue}
            self._queue += [r for r in self.failures if r.id not in waiting][: n - len(self._queue)]
        self._asking, self._queue = self._queue[:n], self._queue[n:]
        self.asked[TRAIN_ERROR] += len(self._asking)
        return list(self._asking)

    def _to_ask(self, path: str) -> int:
        need = self.quota[path] - self.accepted[path]
        return items_to_ask(need, self.accepted[path], self.asked[path]) if need > 0 else 0

    def accept(self, path: str, origin: str | None = None) -> None:
        """Count one accepted item on ``path``; on the training-error path, ``origin`` is its failure."""
        self.accepted[path] += 1
        if path == TRAIN_ERROR:
            self._asking = [r for r in self._asking if r.id != origin]

    def end_attempt(self) -> None:
        """Put this attempt's failures whose item was rejected (or never came) back in the queue."""
        self._queue += self._asking
        self._asking = []

    def shortfalls(self, t: int, attempts: int) -> list[str]:
        """One note per path that missed its quota after ``attempts`` attempts in round ``t``."""
        return [
            f"round {t}: {p} path accepted {self.accepted[p]} of its quota of {self.quota[p]} items "
            f"after {attempts} attempts"
            for p in self.quota
            if not self.filled(p)
        ]
