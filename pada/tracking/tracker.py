"""One W&B run per Hydra job, opened and closed by a context manager.

Tracking is a convenience on top of the run folder, never a dependency of it: ``metrics.json`` and
``summary.md`` are written by the orchestrator whatever happens here. So every call on a
:class:`Tracker` is safe: with ``logger.mode: disabled``, or when W&B fails to start, the methods do
nothing (the figures are still saved in the run folder), and an error inside W&B is logged as a warning
instead of ending the job.

W&B's mode always comes from config (``offline`` by default). An offline run writes under
``<run folder>/wandb/offline-run-*`` and opens no network connection; ``wandb sync`` can upload it later.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from pada.config.schema import plain
from pada.errors import ConfigError
from pada.tracking import plots
from pada.tracking.redact import env_secrets, redact, redact_argv

log = logging.getLogger(__name__)

MODES = ("offline", "online", "disabled")

# Environment variables whose values are secrets even when no config field names them.
_ALWAYS_SECRET_ENV = ("WANDB_API_KEY",)


def flatten(metrics: Mapping[str, Any], prefix: str = "", sep: str = "/") -> dict[str, Any]:
    """Flatten nested dicts into ``"teacher/calls"``-style keys (the way W&B groups its charts).

    Args:
        metrics: A possibly nested mapping.
        prefix: Prepended to every key (with ``sep``), e.g. ``final``.
        sep: The separator between levels.

    Returns:
        A flat dict; lists and other values are kept as they are.
    """
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten(value, name, sep))
        else:
            out[name] = value
    return out


def _safe_name(name: str) -> str:
    # W&B artifact names allow letters, digits, "-", "_" and ".".
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "artifact"


def _cell(value: Any) -> Any:
    # wandb.Table cells must be scalars; nested structures are kept readable as JSON text.
    if value is None or isinstance(value, str | int | float | bool):
        return value
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


@contextlib.contextmanager
def _argv_redacted(secrets: set[str]) -> Iterator[None]:
    # W&B records sys.argv in the run's metadata when the run starts; a Hydra override such as
    # "+teacher.api_key=sk-..." would otherwise be written to the offline run file.
    saved = sys.argv
    sys.argv = [saved[0], *redact_argv(saved[1:], secrets)] if saved else saved
    try:
        yield
    finally:
        sys.argv = saved


class Tracker:
    """A W&B run for one pada job; use it as a context manager.

    ``python -m pada`` builds it from the ``logger`` group with ``hydra.utils.instantiate``
    (``logger._target_``, this class by default; a tracker of one's own with the same methods can
    take its place), passing the run folder, the config, the job name and the group.

    Example:
        >>> with Tracker(run_dir, cfg, job_name="pada", mode="offline") as tracker:  # doctest: +SKIP
        ...     tracker.log_round(round_metrics)
        ...     tracker.plot_accuracy(rounds)
        ...     tracker.log_summary(final)

    Args:
        run_dir: The job's run folder; offline runs land in ``run_dir/wandb``.
        run_config: The composed config (a ``DictConfig`` or plain dict), logged with secrets redacted.
        job_name: The W&B run's display name (e.g. Hydra's job name or override dirname).
        group: Groups runs in the W&B UI (e.g. a multirun or sweep); W&B's own ``WANDB_RUN_GROUP``
            environment variable applies when this is None.
        plots_dir: Where the ``plot_*`` helpers save PNGs; ``run_dir/plots`` by default.
        mode: W&B's mode: ``offline``, ``online`` or ``disabled`` (the ``logger`` group's keys
            follow, :class:`pada.config.schema.LoggerConfig`).
        project: The W&B project.
        entity: The W&B team or user (online runs).
        tags: W&B tags on the run.
    """

    def __init__(
        self,
        run_dir: Path,
        run_config: Any,
        job_name: str,
        group: str | None = None,
        plots_dir: Path | None = None,
        mode: str = "offline",
        project: str = "pada",
        entity: str | None = None,
        tags: Sequence[str] = (),
    ) -> None:
        self.mode: str = str(mode)
        if self.mode not in MODES:
            raise ConfigError(f"logger.mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        self.project: str = str(project)
        self.entity: str | None = entity
        self.tags: list[str] = [str(t) for t in tags]
        self.run_dir = Path(run_dir)
        self.plots_dir = Path(plots_dir) if plots_dir is not None else self.run_dir / "plots"
        self.job_name = job_name
        self.group = group
        # ${hydra:...} interpolations only resolve inside a Hydra job; elsewhere they are logged as written.
        container = plain(run_config, unresolved_ok=True)
        self._secrets = env_secrets(container, _ALWAYS_SECRET_ENV)
        self.config: dict[str, Any] = redact(container, self._secrets)
        self._run: Any = None
        self._step = 0

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether a W&B run is open (False when disabled, failed to start, or closed)."""
        return self._run is not None

    @property
    def wandb_dir(self) -> Path | None:
        """The open run's own folder (``run_dir/wandb/offline-run-*`` offline), or None."""
        if self._run is None:
            return None
        return Path(self._run.dir).parent

    def open(self) -> Tracker:
        """Start the W&B run; on failure, warn and carry on untracked."""
        if self.mode == "disabled" or self._run is not None:
            return self
        # Without this, W&B prints banners and hints on every job; termsetup reads it at first setup.
        os.environ.setdefault("WANDB_SILENT", "true")
        try:
            import wandb

            self.run_dir.mkdir(parents=True, exist_ok=True)
            settings = wandb.Settings(
                silent=True,
                # Hydra already logs the job's output; capturing it again doubles the files and could
                # copy printed secrets into the run.
                console="off",
                # System metrics sample the machine every few seconds (2 shared cores here) and probe
                # cloud metadata endpoints: nothing a training curve needs, and a network access.
                x_disable_stats=True,
            )
            with _argv_redacted(self._secrets):
                self._run = wandb.init(
                    mode=self.mode,
                    dir=str(self.run_dir),
                    project=self.project,
                    entity=self.entity,
                    name=self.job_name,
                    group=self.group,
                    tags=self.tags or None,
                    config=self.config,
                    settings=settings,
                    # Each job gets its own run even if an earlier job of the process left one open.
                    reinit="create_new",
                )
        except Exception as err:  # tracking must never stop the job
            log.warning(
                "W&B did not start (%s: %s); the run continues without tracking.", type(err).__name__, err
            )
            self._run = None
        return self

    def close(self, exit_code: int = 0) -> None:
        """Finish the W&B run (and any run left global, e.g. by Lightning's ``WandbLogger``)."""
        run, self._run = self._run, None
        try:
            if run is not None:
                run.finish(exit_code=exit_code)
            # In a multirun, a run left open would receive the next job's metrics. Only look if something
            # imported wandb: a disabled tracker need not pay for the import.
            wandb = sys.modules.get("wandb")
            if wandb is not None and getattr(wandb, "run", None) is not None:
                wandb.finish(exit_code=exit_code)
        except Exception as err:
            log.warning("W&B did not finish cleanly (%s: %s).", type(err).__name__, err)

    def __enter__(self) -> Tracker:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(exit_code=0 if exc_type is None else 1)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> None:
        if self._run is None:
            return
        try:
            fn(*args, **kwargs)
        except Exception as err:  # a failed log call must not end the job
            log.warning("W&B %s failed (%s: %s).", what, type(err).__name__, err)

    def _step_for(self, round_: int | None) -> int:
        # W&B drops data logged at a step below the current one; never go back.
        if round_ is not None:
            self._step = max(self._step, int(round_))
        return self._step

    # -- metrics ---------------------------------------------------------------------------------------

    def log_round(self, round_metrics: Mapping[str, Any]) -> None:
        """Log one round's metrics at step = ``round``.

        Nested dicts are flattened (``teacher/calls``, ``rejected_by_reason/judge``), and the
        generalization gap (train - validation accuracy) is added when the record lacks it.

        Args:
            round_metrics: One entry of ``metrics.json``'s ``rounds`` list.
        """
        record = dict(round_metrics)
        if record.get("gap") is None and _is_num(record.get("train_acc")) and _is_num(record.get("val_acc")):
            record["gap"] = record["train_acc"] - record["val_acc"]
        step = self._step_for(record.get("round"))
        data = {k: v for k, v in flatten(record).items() if _is_num(v)}
        self._call("log", lambda: self._run.log(data, step=step))

    def log_summary(self, final: Mapping[str, Any], prefix: str = "final") -> None:
        """Put the job's final metrics in the run summary as ``final/<key>`` (what sweeps optimize).

        Args:
            final: ``metrics.json``'s ``final`` record.
            prefix: The key prefix.
        """
        data = flatten(final, prefix)
        self._call("summary", lambda: self._run.summary.update(data))

    def log_table(self, name: str, rows: Sequence[Mapping[str, Any]], round: int | None = None) -> None:
        """Log rows (e.g. patterns or generated samples) as a ``wandb.Table``.

        Columns are the union of the rows' keys in first-seen order; nested values become JSON text.
        Strings are redacted like the config.

        Args:
            name: The table's key in W&B.
            rows: One dict per row.
            round: The round it belongs to (defaults to the last logged round).
        """
        if self._run is None or not rows:
            return
        columns: list[str] = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
        data = [[_cell(redact(row.get(c), self._secrets)) for c in columns] for row in rows]
        step = self._step_for(round)

        def _log() -> None:
            import wandb

            self._run.log({name: wandb.Table(columns=columns, data=data)}, step=step)

        self._call("table", _log)

    def log_image(self, name: str, path: Path, round: int | None = None) -> None:
        """Log a PNG (or other image file) as a ``wandb.Image``.

        Args:
            name: The image's key in W&B.
            path: The image file.
            round: The round it belongs to (defaults to the last logged round).
        """
        step = self._step_for(round)

        def _log() -> None:
            import wandb

            self._run.log({name: wandb.Image(str(path))}, step=step)

        self._call("image", _log)

    def log_artifact(
        self, name: str, type: str, paths: Sequence[Path]
    ) -> None:  # "type" as in wandb.Artifact
        """Log files and folders as one versioned ``wandb.Artifact`` (a dataset, an adapter).

        Files are referenced in place (W&B's ``immutable`` policy) rather than copied to W&B's staging
        folder outside the run folder; they must not change afterwards, which holds for a finished
        round's outputs.

        Args:
            name: The artifact name (sanitized to W&B's allowed characters).
            type: The artifact type, e.g. ``dataset`` or ``model``.
            paths: Files and folders; a folder keeps its name as a prefix inside the artifact.
        """
        if self._run is None:
            return

        def _log() -> None:
            import wandb

            artifact = wandb.Artifact(_safe_name(name), type=type)
            for p in map(Path, paths):
                if p.is_dir():
                    artifact.add_dir(str(p), name=p.name, policy="immutable")
                elif p.is_file():
                    artifact.add_file(str(p), name=p.name, policy="immutable")
                else:
                    log.warning("Artifact %s: %s does not exist; skipped.", name, p)
            self._run.log_artifact(artifact)

        self._call("artifact", _log)

    # -- figures ---------------------------------------------------------------------------------------

    def _plot(self, name: str, draw: Any, round: int | None) -> Path | None:
        path = self.plots_dir / f"{name}.png"
        try:
            draw(path)
        except Exception as err:  # a figure is not worth a failed job
            log.warning("Plot %s failed (%s: %s).", name, type(err).__name__, err)
            return None
        self.log_image(f"plots/{name}", path, round=round)
        return path

    def plot_accuracy(self, rounds: Sequence[Mapping[str, Any]]) -> Path | None:
        """Save (and log) train / validation / test accuracy per round as ``accuracy.png``.

        Args:
            rounds: ``metrics.json``'s ``rounds`` list.

        Returns:
            The PNG's path, or None if drawing failed.
        """
        last = rounds[-1].get("round") if rounds else None
        return self._plot("accuracy", lambda p: plots.plot_accuracy(rounds, p), last)

    def plot_cluster_sizes(
        self, patterns: Sequence[Mapping[str, Any]], round: int | None = None
    ) -> Path | None:
        """Save (and log) the failure-pattern cluster sizes as ``cluster_sizes[_r<round>].png``.

        Args:
            patterns: Entries of ``patterns.json``: ``cluster``, ``name``, ``size``.
            round: The round the patterns come from (also names the file).

        Returns:
            The PNG's path, or None if drawing failed.
        """
        counts = {
            f"{p.get('cluster', i)}: {p.get('name', '')}".rstrip(": "): p.get("size", 0)
            for i, p in enumerate(patterns)
        }
        name = "cluster_sizes" if round is None else f"cluster_sizes_r{round}"
        return self._plot(
            name,
            lambda path: plots.plot_bars(counts, path, "Validation failure patterns", "pattern", "failures"),
            round,
        )

    def plot_rejections(self, rejected_by_reason: Mapping[str, int], round: int | None = None) -> Path | None:
        """Save (and log) the quality gate's rejections per reason as ``rejections[_r<round>].png``.

        Args:
            rejected_by_reason: Reason -> count (a round's ``rejected_by_reason``).
            round: The round (also names the file).

        Returns:
            The PNG's path, or None if drawing failed.
        """
        counts = dict(sorted(rejected_by_reason.items(), key=lambda kv: -kv[1]))
        name = "rejections" if round is None else f"rejections_r{round}"
        return self._plot(
            name,
            lambda path: plots.plot_bars(counts, path, "Quality gate rejections", "reason", "items"),
            round,
        )


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
