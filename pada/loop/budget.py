"""How a round's budget of accepted synthetic items is shared out.

Every method is compared at the same number of accepted synthetic items per round; these helpers
decide how many of them each path (validation patterns, training errors) and each strategy owes.
"""

from __future__ import annotations

from collections.abc import Sequence


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
