"""Word n-gram overlap, shared by the gate, the prompt guard, the copy check and the leakage check."""

from __future__ import annotations

from pada.overlap import NgramIndex, ngrams


def test_ngrams_are_of_normalized_words() -> None:
    assert ngrams("The Sun, the Moon!", 2) == {("sun", "moon")}  # case, punctuation and articles go
    assert ngrams("one two three", 2) == {("one", "two"), ("two", "three")}


def test_a_short_text_is_its_own_gram_or_none() -> None:
    assert ngrams("heat flows", 5) == {("heat", "flows")}
    assert ngrams("heat flows", 5, whole_if_short=False) == set()
    assert ngrams("", 3) == set()


def test_the_index_finds_who_holds_what() -> None:
    index = NgramIndex(3)
    index.extend(["plants need light to grow", "rocks do not need light"])
    assert len(index) == 2 and index.sizes == [3, 3]
    shared = index.shared("do plants need light at all")
    assert shared == {0: [("plants", "need", "light")]}
    assert index.counts(index.grams("plants need light to grow")) == {0: 3}
    # The share of one indexed text's grams found in a text: a third of the first, none of the second.
    assert index.largest_share_of_one("plants need light, says the book") == 1 / 3
    assert index.largest_share_of_one("nothing in common here") == 0.0


def test_shared_grams_come_sorted_so_reports_are_stable() -> None:
    index = NgramIndex(2)
    index.add("zebra runs and ants walk")
    assert index.shared("ants walk while zebra runs")[0] == [("ants", "walk"), ("zebra", "runs")]
