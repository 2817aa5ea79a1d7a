"""The run's standard figures, saved as PNG files.

Built on matplotlib's object API (``Figure`` + the Agg canvas), not ``pyplot``: pyplot keeps global
figure state and picks a GUI backend, and several Hydra jobs share one process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    """Create a matplotlib figure on the Agg canvas (no pyplot, no GUI backend)."""
    # Imported here: matplotlib costs half a second, and `pada.tracking` is imported by light tools
    # (the sweep runner) that never draw.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Lay out ``fig`` and write it to ``path`` as PNG (creating the folder); return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def plot_accuracy(rounds: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Train / validation / test accuracy per round, one line each.

    Args:
        rounds: Round records with ``round`` and any of ``train_acc``, ``val_acc``, ``test_acc``.
        path: Where to write the PNG.

    Returns:
        ``path``.
    """
    fig = new_figure(6, 4)
    ax = fig.add_subplot()
    for key, label in (("train_acc", "train"), ("val_acc", "validation"), ("test_acc", "test")):
        points = [(r.get("round", i), r[key]) for i, r in enumerate(rounds) if r.get(key) is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", label=label)
    ax.set_xlabel("round")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy per round")
    # Rounds are integers; fractional ticks would suggest half rounds.
    ax.xaxis.get_major_locator().set_params(integer=True)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return save(fig, path)


def plot_bars(counts: Mapping[str, float], path: Path, title: str, xlabel: str, ylabel: str) -> Path:
    """Draw a labelled bar chart (one bar per key), e.g. cluster sizes or rejection reasons.

    Args:
        counts: Label -> value, drawn in the given order.
        path: Where to write the PNG.
        title: The figure title.
        xlabel: The x axis label.
        ylabel: The y axis label.

    Returns:
        ``path``.
    """
    labels = [str(k) for k in counts]
    # Long pattern names would overlap; the full names are in patterns.json.
    short = [label if len(label) <= 28 else label[:27] + "…" for label in labels]
    fig = new_figure(max(5.0, 0.6 * len(labels) + 2), 4)
    ax = fig.add_subplot()
    ax.bar(range(len(labels)), list(counts.values()))
    rotate = len(labels) > 4
    ax.set_xticks(range(len(labels)), short, rotation=30 if rotate else 0, ha="right" if rotate else "center")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return save(fig, path)


def plot_elbow(inertia: Mapping[int, float], k: int, path: Path) -> Path:
    """The k-means inertia curve over the searched K, with the chosen K marked.

    Args:
        inertia: ``{K: inertia}``.
        k: The chosen K.
        path: Where to write the PNG.

    Returns:
        ``path``.
    """
    ks = sorted(inertia)
    fig = new_figure(5, 3.5)
    ax = fig.add_subplot()
    ax.plot(ks, [inertia[x] for x in ks], marker="o")
    if k in inertia:
        ax.axvline(k, color="tab:red", linestyle="--", label=f"chosen K = {k}")
        ax.legend()
    ax.set_xlabel("K (clusters)")
    ax.set_ylabel("k-means inertia")
    ax.set_title("Elbow of the error-analysis clustering")
    ax.set_xticks(ks)
    return save(fig, Path(path))
