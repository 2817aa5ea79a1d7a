from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pada.tasks import (
    MCItem,
    Splits,
    TaskDataError,
    normalize_text,
    split_items,
    split_manifest,
    write_manifest,
)


def _items(n: int, sources: tuple[str, ...] = ("s1",)) -> list[MCItem]:
    return [
        MCItem(
            f"{sources[i % len(sources)]}/{i:04d}",
            f"Question number {i}?",
            ("a", "b", "c", "d"),
            i % 4,
            source=sources[i % len(sources)],
        )
        for i in range(n)
    ]


def _ids(splits: Splits) -> dict[str, list[str]]:
    return {name: [it.id for it in items] for name, items in splits.as_dict().items()}


def _assert_disjoint(splits: Splits) -> None:
    parts = splits.as_dict()
    names = list(parts)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not {it.id for it in parts[a]} & {it.id for it in parts[b]}
            qa = {normalize_text(it.question) for it in parts[a]}
            qb = {normalize_text(it.question) for it in parts[b]}
            assert not qa & qb, (a, b, qa & qb)


def test_same_seed_same_splits_regardless_of_input_order() -> None:
    items = _items(100)
    shuffled = list(items)
    random.Random(5).shuffle(shuffled)
    a = split_items(items, 50, 20, 30, seed=1)
    b = split_items(shuffled, 50, 20, 30, seed=1)
    assert _ids(a) == _ids(b)
    assert split_manifest(a) == split_manifest(b)


def test_different_seed_different_splits() -> None:
    items = _items(100)
    assert _ids(split_items(items, 50, 20, 30, seed=1)) != _ids(split_items(items, 50, 20, 30, seed=2))


def test_sizes_and_disjointness() -> None:
    splits = split_items(_items(100), 40, 20, 30, seed=0)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (40, 20, 30)
    _assert_disjoint(splits)
    assert splits.params["sizes"] == {"train": 40, "validation": 20, "test": 30}


def test_rest_and_fractions() -> None:
    items = _items(100)
    s = split_items(items, -1, 0.1, 0.25, seed=0)
    assert (len(s.train), len(s.validation), len(s.test)) == (65, 10, 25)
    s = split_items(items, 0.8, 0.1, 0.1, seed=0)
    assert (len(s.train), len(s.validation), len(s.test)) == (80, 10, 10)
    s = split_items(items, 0.29, 10, -1, seed=0)  # 0.29 * 100 must not floor to 28
    assert (len(s.train), len(s.validation), len(s.test)) == (29, 10, 61)
    s = split_items(items, 400.0 / 10, 20.0, 0, seed=0)  # typed configs deliver counts as floats
    assert (len(s.train), len(s.validation), len(s.test)) == (40, 20, 0)
    _assert_disjoint(s)


def test_held_out_sets_do_not_depend_on_train_size() -> None:
    items = _items(200)
    small, big = split_items(items, 10, 30, 40, seed=3), split_items(items, 120, 30, 40, seed=3)
    assert _ids(small)["test"] == _ids(big)["test"]
    assert _ids(small)["validation"] == _ids(big)["validation"]


def test_too_large_sizes_error_names_keys_and_available() -> None:
    with pytest.raises(TaskDataError) as err:
        split_items(_items(50), 400, 200, 400, seed=0)
    message = str(err.value)
    for fragment in (
        "dataset.train_size=400",
        "dataset.val_size=200",
        "dataset.test_size=400",
        "1000",
        "only 50",
    ):
        assert fragment in message, message


@pytest.mark.parametrize("bad", [-2, 1.5, "10", True, None, 0.0 - 0.5])
def test_invalid_size(bad: object) -> None:
    with pytest.raises(TaskDataError, match=r"dataset\.val_size"):
        split_items(_items(10), 2, bad, 2, seed=0)  # type: ignore[arg-type]


def test_two_rests_rejected() -> None:
    with pytest.raises(TaskDataError, match="only one split size may be -1"):
        split_items(_items(10), -1, 2, -1, seed=0)


def test_duplicate_ids_rejected() -> None:
    items = _items(10)
    with pytest.raises(TaskDataError, match="duplicate item id"):
        split_items([*items, items[0]], 2, 2, 2, seed=0)


def test_same_question_stays_in_one_split() -> None:
    base = _items(60)
    # Three rephrasings (case, punctuation, article) of each of five questions.
    dupes = [
        MCItem(f"dup/{q}-{k}", text, ("a", "b"), 0, source="s1")
        for q in range(5)
        for k, text in enumerate(
            [f"Question number {q}?", f"QUESTION NUMBER {q}", f"The question number {q}!"]
        )
    ]
    for seed in range(10):
        splits = split_items(base + dupes, 30, 15, -1, seed=seed)
        _assert_disjoint(splits)
        assert len(splits.train) == 30 and len(splits.validation) == 15
        assert len(splits.test) == len(base) + len(dupes) - 45


def test_context_is_part_of_the_group_key() -> None:
    items = [
        MCItem(f"c/{i}", "What is the main idea?", ("a", "b"), 0, context=f"Passage {i}.") for i in range(20)
    ]
    splits = split_items(items, 10, 5, 5, seed=0)  # would be impossible if the 20 items formed one group
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (10, 5, 5)


def test_impossible_exact_size_with_groups() -> None:
    items = [MCItem(f"g/{i}", "Same question?", ("a", "b"), 0) for i in range(4)]
    with pytest.raises(TaskDataError, match="cannot take exactly"):
        split_items(items, 2, 0, -1, seed=0)


def test_stratified_mix_is_proportional() -> None:
    items = _items(1000, sources=("a", "b", "b", "c", "c", "c"))  # 1/6 a, 2/6 b, 3/6 c
    splits = split_items(items, 300, 120, 300, seed=0)
    manifest = split_manifest(splits)
    for name, expected in (("train", 300), ("validation", 120), ("test", 300)):
        counts = manifest["splits"][name]["sources"]
        assert abs(counts["a"] - expected / 6) <= 1.5
        assert abs(counts["b"] - expected * 2 / 6) <= 1.5
        assert abs(counts["c"] - expected * 3 / 6) <= 1.5


def test_manifest(tmp_path: Path) -> None:
    splits = split_items(_items(40, ("x", "y")), 20, 10, 10, seed=0)
    manifest = write_manifest(splits, tmp_path / "run" / "splits.json")
    assert json.loads((tmp_path / "run" / "splits.json").read_text()) == manifest
    train = manifest["splits"]["train"]
    assert (
        train["size"] == 20 and train["ids"] == sorted(train["ids"]) and sum(train["sources"].values()) == 20
    )
    assert len(manifest["sha256"]) == 64
    assert manifest["params"]["seed"] == 0
    # Changing an item's content under the same id changes content_sha256 but not the id hash.
    changed = Splits(
        train=[
            MCItem(splits.train[0].id, "Edited?", ("a", "b"), 0, source=splits.train[0].source),
            *splits.train[1:],
        ],
        validation=splits.validation,
        test=splits.test,
        params=splits.params,
    )
    other = split_manifest(changed)
    assert other["splits"]["train"]["sha256"] == train["sha256"]
    assert other["splits"]["train"]["content_sha256"] != train["content_sha256"]


def test_reserve_holds_the_rest_disjointly_and_deterministically() -> None:
    items = _items(100)
    shuffled = list(items)
    random.Random(3).shuffle(shuffled)
    a, b = split_items(items, 30, 20, 20, seed=4), split_items(shuffled, 30, 20, 20, seed=4)
    assert [i.id for i in a.reserve] == [i.id for i in b.reserve]
    taken = {i.id for part in a.as_dict().values() for i in part}
    assert len(a.reserve) == 30 and not {i.id for i in a.reserve} & taken
    assert a.params["reserve"] == 30


def test_validation_parts_are_disjoint_deterministic_and_recorded() -> None:
    items = _items(100, ("s1", "s2"))
    a = split_items(items, 40, 20, 30, seed=0, select_size=8)
    b = split_items(list(reversed(items)), 40, 20, 30, seed=0, select_size=8)
    assert a.select == b.select and len(a.select) == 8
    mine, select = a.validation_part("mine"), a.validation_part("select")
    assert len(mine) == 12 and {i.id for i in select} == a.select and not {i.id for i in mine} & a.select
    # Splitting validation changes none of the three splits.
    assert _ids(a) == _ids(split_items(items, 40, 20, 30, seed=0))
    manifest = split_manifest(a)["validation_parts"]
    assert manifest["select"]["ids"] == sorted(a.select) and manifest["mine"]["size"] == 12
    assert split_items(items, 40, 20, 30, seed=0, select_size=0.5).params["validation_parts"]["select"] == 10


def test_unsplit_validation_does_both() -> None:
    splits = split_items(_items(100), 40, 20, 30, seed=0)
    assert not splits.select and "validation_parts" not in split_manifest(splits)
    assert splits.validation_part("mine") == splits.validation_part("select") == splits.validation


def test_select_part_must_leave_items_to_mine() -> None:
    with pytest.raises(TaskDataError, match="dataset.select_size"):
        split_items(_items(100), 40, 20, 30, seed=0, select_size=20)
