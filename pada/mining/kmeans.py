"""Pattern mining: embed the error analyses, run k-means over a range of K, pick K at the elbow.

The elbow is found with ``kneed`` (the Kneedle algorithm) on the inertia curve. Small inputs are
handled explicitly instead of letting k-means or the knee finder fail: no analyses -> skipped; fewer
than ``min_failures_to_cluster`` -> one cluster; a curve too short or without a knee -> the largest
second difference, or ``k_min``. Every decision is written down in :attr:`MiningResult.reason`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pada.config.schema import PatternMiningConfig, typed
from pada.io import JsonRecord, write_json
from pada.tracking.plots import plot_elbow

log = logging.getLogger(__name__)


class Diagnosed(Protocol):
    """What pattern mining needs of an error analysis (:class:`pada.agents.records.Analysis`)."""

    id: str

    def text(self) -> str:
        """The text that is embedded."""
        ...


@dataclass
class Cluster(JsonRecord):
    """A group of analyses that k-means put together.

    Attributes:
        id: Cluster index (0-based).
        member_ids: The ids of the analyses (= failed items) in the cluster.
    """

    id: int
    member_ids: list[str]


@dataclass
class MiningResult(JsonRecord):
    """The outcome of pattern mining.

    Attributes:
        clusters: The clusters, largest first.
        k: The chosen number of clusters (0 when mining was skipped).
        method: ``elbow`` (chosen by the knee of the inertia curve), ``fixed`` (``pattern_mining.k``),
            ``single`` (too few failures: one cluster) or ``skipped`` (nothing to cluster).
        inertia: ``{K: k-means inertia}`` over the searched range (empty unless ``elbow``).
        reason: A sentence explaining the choice, for the log and the artifacts.
        plot: Path of the elbow plot, when one was written.
    """

    clusters: list[Cluster]
    k: int
    method: str
    inertia: dict[int, float] = field(default_factory=dict)
    reason: str = ""
    plot: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (inertia keys become strings, as JSON requires)."""
        return {
            "k": self.k,
            "method": self.method,
            "reason": self.reason,
            "inertia": {str(k): v for k, v in self.inertia.items()},
            "plot": self.plot,
            "clusters": [c.to_dict() for c in self.clusters],
        }


def _kmeans(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, float]:
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
    return km.labels_, float(km.inertia_)


def choose_k(inertia: dict[int, float]) -> tuple[int, str]:
    """The K at the elbow of an inertia curve, and why.

    Args:
        inertia: ``{K: inertia}`` for consecutive K.

    Returns:
        ``(K, reason)``.
    """
    ks = sorted(inertia)
    ys = [inertia[k] for k in ks]
    scale = max(ys[0], 1e-12)
    exact = next((k for k, y in zip(ks, ys, strict=True) if y <= 1e-9 * scale), None)
    if exact is not None:
        # Once clusters fit the points exactly, more clusters explain nothing: cut the flat tail.
        if exact == ks[0]:
            return exact, f"inertia is already zero at K={exact}"
        ks, ys = ks[: ks.index(exact) + 1], ys[: ks.index(exact) + 1]
        if len(ks) < 3:
            return exact, f"inertia reaches zero at K={exact}: the analyses form {exact} exact groups"
    if len(ks) == 1:
        return ks[0], f"only K={ks[0]} was possible"
    if len(ks) >= 3:
        from kneed import KneeLocator

        knee = KneeLocator(ks, ys, curve="convex", direction="decreasing").knee
        if knee is not None:
            return int(knee), f"elbow (kneed) of the inertia curve over K={ks[0]}..{ks[-1]}"
        # No knee (e.g. a straight line): the sharpest bend is the next best reading of an elbow.
        second = [ys[i - 1] - 2 * ys[i] + ys[i + 1] for i in range(1, len(ys) - 1)]
        i = int(np.argmax(second)) + 1
        if second[i - 1] > 0:
            return ks[i], f"no knee found by kneed; largest second difference at K={ks[i]}"
    return ks[0], f"no elbow in the inertia curve over K={ks[0]}..{ks[-1]}; kept the smallest K"


def _clusters(ids: Sequence[str], labels: np.ndarray) -> list[Cluster]:
    groups: dict[int, list[str]] = {}
    for i, label in zip(ids, labels, strict=True):
        groups.setdefault(int(label), []).append(i)
    # Largest first, renumbered, so cluster 0 is the most common failure pattern.
    ordered = sorted(groups.values(), key=lambda m: (-len(m), m[0]))
    return [Cluster(id=n, member_ids=m) for n, m in enumerate(ordered)]


def mine_patterns(
    analyses: Sequence[Diagnosed],
    embed: Any,
    cfg: PatternMiningConfig | None,
    out_dir: str | Path | None = None,
) -> MiningResult:
    """Cluster analyses into failure patterns.

    Args:
        analyses: The error analyses (one per failure).
        embed: A callable ``texts -> np.ndarray`` (e.g. :meth:`Embedder.encode`).
        cfg: The ``pattern_mining`` config: ``k_min``, ``k_max``, ``k`` (fixed K or null for the elbow),
            ``min_failures_to_cluster``, ``seed``.
        out_dir: If given, ``clusters.json``, ``inertia.json`` and ``elbow.png`` are written there.

    Returns:
        The clusters, the chosen K and how it was chosen.
    """
    cfg = typed(PatternMiningConfig, cfg)
    seed = int(cfg.seed)
    k_min = max(1, int(cfg.k_min))
    k_max = max(k_min, int(cfg.k_max))
    fixed = cfg.k
    min_n = int(cfg.min_failures_to_cluster)
    ids = [a.id for a in analyses]
    n = len(ids)

    if n == 0:
        result = MiningResult(clusters=[], k=0, method="skipped", reason="no analyses to cluster")
    elif n < min_n:
        result = MiningResult(
            clusters=[Cluster(id=0, member_ids=ids)],
            k=1,
            method="single",
            reason=f"{n} analyses < pattern_mining.min_failures_to_cluster ({min_n}): one cluster",
        )
    else:
        x = embed([a.text() for a in analyses])
        if fixed is not None:
            k = max(1, min(int(fixed), n))
            labels, inertia_k = _kmeans(x, k, seed)
            result = MiningResult(
                clusters=_clusters(ids, labels),
                k=k,
                method="fixed",
                inertia={k: inertia_k},
                reason=f"K fixed by pattern_mining.k = {fixed}"
                + (f" (capped at {n} analyses)" if k < fixed else ""),
            )
        else:
            # K cannot exceed the number of distinct points; k-means warns and duplicates otherwise.
            distinct = len(np.unique(np.round(x, 6), axis=0))
            hi = min(k_max, distinct)
            lo = min(k_min, hi)
            fits = {k: _kmeans(x, k, seed) for k in range(lo, hi + 1)}
            inertia = {k: fit[1] for k, fit in fits.items()}
            k, why = choose_k(inertia)
            result = MiningResult(
                clusters=_clusters(ids, fits[k][0]),
                k=k,
                method="elbow",
                inertia=inertia,
                reason=why,
            )
    log.info("pattern mining: K=%d (%s): %s", result.k, result.method, result.reason)
    if out_dir is not None:
        save_mining(result, out_dir)
    return result


def save_mining(result: MiningResult, out_dir: str | Path) -> None:
    """Write ``clusters.json`` (K, method, reason, member ids), ``inertia.json`` and ``elbow.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if result.inertia:
        result.plot = str(plot_elbow(result.inertia, result.k, out / "elbow.png"))
    curve = {
        "k": result.k,
        "method": result.method,
        "inertia": {str(k): v for k, v in result.inertia.items()},
    }
    write_json(out / "inertia.json", curve)
    write_json(out / "clusters.json", result.to_dict())
