"""Option probabilities from token log-probabilities, on fixed inputs whose answer is known."""

from __future__ import annotations

import math

import pytest

from pada.teacher.scoring import best_option, option_probabilities, token_letter


def entry(token: str, logprob: float, top: list[tuple[str, float]]) -> dict:
    return {
        "token": token,
        "logprob": logprob,
        "top_logprobs": [{"token": t, "logprob": lp} for t, lp in top],
    }


@pytest.mark.parametrize(
    ("token", "n", "letter"),
    [("B", 4, "B"), (" b", 4, "B"), ("(C", 4, "C"), ("D.", 4, "D"), ("**A", 4, "A"), ("E", 4, None),
     ("The", 4, None), ("", 4, None), ("AB", 4, None)],
)  # fmt: skip
def test_token_letter(token, n, letter):
    assert token_letter(token, n) == letter


def test_probabilities_are_renormalized_over_the_items_letters():
    # The first token is "The" (the model wanted to write a sentence); the letters are alternatives.
    lp = {"content": [entry("The", math.log(0.5), [("The", math.log(0.5)), ("B", math.log(0.3)),
                                                    (" B", math.log(0.1)), ("A", math.log(0.05)),
                                                    ("E", math.log(0.05))])]}  # fmt: skip
    probs = option_probabilities(lp, 4)
    # B and " B" are one option; E names no option of a 4-option item; C and D are not listed.
    assert probs == pytest.approx({"A": 0.05 / 0.45, "B": 0.4 / 0.45, "C": 0.0, "D": 0.0})
    assert best_option(probs) == ("B", pytest.approx(0.4 / 0.45))


def test_blank_tokens_are_skipped_and_the_chosen_token_counts():
    lp = {"content": [entry(" ", -0.1, []), entry("C", math.log(0.6), [("A", math.log(0.2))])]}
    assert option_probabilities(lp, 3) == pytest.approx({"A": 0.25, "B": 0.0, "C": 0.75})


def test_no_logprobs_or_no_letter_is_none():
    assert option_probabilities(None, 4) is None
    assert option_probabilities({"content": []}, 4) is None
    assert option_probabilities({"content": [entry("Hmm", -0.1, [("Well", -2.0)])]}, 4) is None


def test_objects_with_attributes_are_read_like_dicts():
    class Obj:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    lp = Obj(
        content=[Obj(token="A", logprob=math.log(0.9), top_logprobs=[Obj(token="B", logprob=math.log(0.1))])]
    )
    assert option_probabilities(lp, 2) == pytest.approx({"A": 0.9, "B": 0.1})


def test_a_tie_goes_to_the_first_letter():
    assert best_option({"A": 0.5, "B": 0.5}) == ("A", 0.5)


def test_numbered_answers_give_one_distribution_per_question():
    from pada.teacher.scoring import numbered_option_probabilities

    tokens = [
        entry("1", 0.0, []), entry(".", 0.0, []), entry(" B", math.log(0.7), [(" A", math.log(0.3))]),
        entry("\n", 0.0, []), entry("2", 0.0, []), entry(")", 0.0, []),
        entry(" C", math.log(0.5), [(" D", math.log(0.5))]), entry("\n", 0.0, []),
        # question 3 is answered with a word, not a letter; question 4 is missing
        entry("3", 0.0, []), entry(".", 0.0, []), entry(" None", -0.1, [(" The", -3.0)]),
    ]  # fmt: skip
    probs = numbered_option_probabilities({"content": tokens}, [2, 4, 3, 4])
    assert probs[0] == pytest.approx({"A": 0.3, "B": 0.7})
    assert probs[1] == pytest.approx({"A": 0.0, "B": 0.0, "C": 0.5, "D": 0.5})
    assert probs[2] is None and probs[3] is None
