"""The per-path ledger of the generate stage's attempts (:class:`pada.loop.budget.Quotas`)."""

from __future__ import annotations

from dataclasses import dataclass

from pada.loop.budget import TRAIN_ERROR, Quotas


@dataclass(frozen=True)
class Failure:
    id: str


FAILURES = [Failure("a"), Failure("b"), Failure("c")]


def test_a_first_attempt_asks_each_path_for_its_quota() -> None:
    quotas = Quotas({"pattern": 4, TRAIN_ERROR: 2}, FAILURES)

    assert quotas.ask("pattern") == 4
    assert [f.id for f in quotas.next_failures()] == ["a", "b"]
    assert quotas.requested == 6 and quotas.asked == {"pattern": 4, TRAIN_ERROR: 2}
    assert quotas.missing() == {"pattern": 4, TRAIN_ERROR: 2} and not quotas.full


def test_rejected_failures_are_asked_again_after_the_unasked_ones() -> None:
    quotas = Quotas({TRAIN_ERROR: 3}, FAILURES)
    assert [f.id for f in quotas.next_failures()] == ["a", "b", "c"]
    quotas.accept(TRAIN_ERROR, "a")  # a's item passed; b's and c's were rejected
    quotas.end_attempt()

    # One accepted of three asked: two missing at a yield of 1/3 asks for six, but only b and c
    # wait, so a (accepted) seeds a second item.
    assert [f.id for f in quotas.next_failures()] == ["b", "c", "a"]
    assert quotas.asked[TRAIN_ERROR] == 6


def test_a_full_path_asks_nothing_and_a_short_one_is_noted() -> None:
    quotas = Quotas({"pattern": 1, TRAIN_ERROR: 1}, FAILURES)
    quotas.accept("pattern")

    assert quotas.filled("pattern") and quotas.ask("pattern") == 0
    assert quotas.shortfalls(2, attempts=3) == [
        "round 2: train_error path accepted 0 of its quota of 1 items after 3 attempts"
    ]
