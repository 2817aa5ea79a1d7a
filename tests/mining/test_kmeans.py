"""Pattern mining: k-means over a K range, K by the elbow, small inputs, seeding and artifacts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pada.agents.records import Analysis, MiningResult
from pada.mining.kmeans import choose_k, mine_patterns


def analyses(n: int) -> list[Analysis]:
    return [Analysis(f"val-{i:02d}", f"cause {i}", f"scenario {i}", f"knowledge {i}") for i in range(n)]


def blobs(groups: int, per: int, seed: int = 0, spread: float = 0.05):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(groups, 16)) * 3
    points = np.concatenate([c + spread * rng.normal(size=(per, 16)) for c in centers])
    return lambda texts: points[: len(texts)]


CFG = {"k_min": 1, "k_max": 6, "k": None, "min_failures_to_cluster": 4, "seed": 0}


def test_elbow_finds_the_groups(tmp_path):
    result = mine_patterns(analyses(15), blobs(3, 5), CFG, out_dir=tmp_path)
    assert result.method == "elbow" and result.k == 3
    assert sorted(len(c.member_ids) for c in result.clusters) == [5, 5, 5]
    assert sorted(result.inertia) == [1, 2, 3, 4, 5, 6]
    assert "elbow" in result.reason
    # Artifacts: clusters with member ids, the inertia curve, the chosen K, the plot.
    saved = json.loads((tmp_path / "clusters.json").read_text())
    assert saved["k"] == 3 and sum(len(c["member_ids"]) for c in saved["clusters"]) == 15
    curve = json.loads((tmp_path / "inertia.json").read_text())
    assert curve["k"] == 3 and len(curve["inertia"]) == 6
    png = (tmp_path / "elbow.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    assert MiningResult.from_dict(saved).clusters == result.clusters


def test_seeded_and_deterministic():
    a = mine_patterns(analyses(12), blobs(4, 3, seed=1, spread=0.8), CFG)
    b = mine_patterns(analyses(12), blobs(4, 3, seed=1, spread=0.8), CFG)
    assert a.to_dict() == b.to_dict()


def test_no_analyses_is_skipped(tmp_path):
    result = mine_patterns([], blobs(1, 1), CFG, out_dir=tmp_path)
    assert result.method == "skipped" and result.k == 0 and result.clusters == []
    assert "no analyses" in result.reason and not (tmp_path / "elbow.png").exists()


def test_few_failures_make_one_cluster():
    def never(texts):
        raise AssertionError("no embedding needed for one cluster")

    result = mine_patterns(analyses(3), never, CFG)
    assert result.method == "single" and result.k == 1
    assert result.clusters[0].member_ids == ["val-00", "val-01", "val-02"]
    assert "min_failures_to_cluster" in result.reason


def test_fixed_k_is_capped_by_the_number_of_analyses():
    result = mine_patterns(analyses(5), blobs(5, 1), {**CFG, "k": 8})
    assert result.method == "fixed" and result.k == 5 and "capped" in result.reason


def test_k_range_capped_by_distinct_points():
    # Ten analyses, but only two distinct embeddings: K cannot exceed 2.
    def two(texts):
        return np.array([[1.0, 0.0] if i % 2 else [0.0, 1.0] for i in range(len(texts))])

    result = mine_patterns(analyses(10), two, CFG)
    assert result.k == 2 and max(result.inertia) == 2


@pytest.mark.parametrize(
    "curve, k",
    [
        ({1: 100.0, 2: 40.0, 3: 12.0, 4: 10.0, 5: 9.0, 6: 8.5}, 3),
        ({1: 10.0}, 1),
        ({1: 10.0, 2: 0.0}, 2),  # exact groups
        ({1: 0.0, 2: 0.0, 3: 0.0}, 1),  # all points identical
        ({2: 10.0, 3: 9.0}, 2),  # too short and no drop to zero: the smallest K
    ],
)
def test_choose_k(curve, k):
    assert choose_k(curve)[0] == k


def test_cluster_order_is_largest_first():
    result = mine_patterns(analyses(9), _uneven(), CFG)
    sizes = [len(c.member_ids) for c in result.clusters]
    assert sizes == sorted(sizes, reverse=True) and [c.id for c in result.clusters] == list(range(len(sizes)))


def _uneven():
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal(size=(6, 8)) * 0.05, 5 + rng.normal(size=(3, 8)) * 0.05])
    return lambda texts: pts[: len(texts)]
