"""A W&B sweep file and its search algorithm, computed locally.

The algorithms are W&B's own: the ``sweeps`` package (the library behind W&B's local controller)
suggests the next run of a grid, random or bayes sweep from the sweep YAML and the runs so far. No W&B
server is involved.

``sweeps`` 0.3.0 declares ``numpy<2`` but grid, random and bayes all run under numpy 2 (checked with
numpy 2.4); install it with ``pip install --no-deps sweeps jsonref``. Should bayes break in some other
combination of versions, :class:`Search` falls back to random search over the same parameters and says
so.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import yaml

from pada.errors import PadaError

log = logging.getLogger(__name__)


class SweepError(PadaError):
    """A sweep file that cannot run, or a missing dependency; the message says which."""


def _sweeps() -> Any:
    # `sweeps` 0.3.0 defines pydantic v1-style models: importing it warns under pydantic 2.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import sweeps
        except ImportError as err:
            raise SweepError(
                "the local sweep runner needs W&B's `sweeps` package (it declares numpy<2, which pada's "
                f"numpy 2 satisfies in practice): pip install --no-deps sweeps jsonref ({err})"
            ) from err
    return sweeps


def load_sweep(path: Path) -> dict[str, Any]:
    """Read a W&B sweep YAML and check it against W&B's sweep schema.

    Args:
        path: The sweep file, e.g. ``sweeps/method_comparison.yaml``.

    Returns:
        The sweep config as a dict.

    Raises:
        SweepError: The file is missing, is not YAML, or breaks the schema.
    """
    try:
        config = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise SweepError(f"cannot read sweep file {path}: {err}") from err
    except yaml.YAMLError as err:
        # The usual one: `[${env}, ...]` in a flow list; W&B's docs use a block list.
        raise SweepError(f"{path} is not valid YAML (use a block list for `command`): {err}") from err
    if not isinstance(config, dict):
        raise SweepError(f"{path}: a sweep file is a mapping with method, metric, parameters")
    violations = _sweeps().schema_violations_from_proposed_config(config)
    if violations:
        raise SweepError(f"{path} breaks W&B's sweep schema:\n  " + "\n  ".join(violations))
    return config


def _plain(value: Any) -> Any:
    # The algorithms return numpy scalars; commands and sweep.json want plain Python values.
    return value.item() if hasattr(value, "item") and callable(value.item) else value


class Search:
    """The sweep's search algorithm, fed with the runs done so far.

    Args:
        config: The sweep config (:func:`load_sweep`).
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.method: str = config["method"]
        self.fallback: str | None = None

    @property
    def method_used(self) -> str:
        """The algorithm actually suggesting runs (``random`` after a bayes fallback)."""
        return "random" if self.fallback else self.method

    def new_run(
        self,
        name: str,
        params: dict[str, Any],
        state: str,
        summary: dict[str, Any] | None = None,
        history: list[dict[str, Any]] | None = None,
    ) -> Any:
        """Describe a run to the algorithm the way the W&B backend would (a ``sweeps.SweepRun``).

        Args:
            name: The run name.
            params: Parameter name -> value, as suggested.
            state: ``pending``, ``running``, ``finished``, ``failed``, ``crashed`` or ``killed``.
            summary: The run's summary metrics (flat ``final/val_acc`` keys).
            history: The run's logged rows (one per round).

        Returns:
            A ``sweeps.SweepRun``.
        """
        sweeps = _sweeps()
        return sweeps.SweepRun(
            name=name,
            config={k: {"value": v} for k, v in params.items()},
            state=sweeps.RunState(state),
            summary_metrics=summary or {},
            history=history or [],
        )

    def suggest(self, runs: list[Any]) -> dict[str, Any] | None:
        """Suggest the next run's parameters, or None when a grid is exhausted.

        Args:
            runs: ``sweeps.SweepRun`` objects for every run so far (pending ones included).

        Returns:
            Parameter name -> plain value.
        """
        sweeps = _sweeps()
        config = dict(self.config, method="random") if self.fallback else self.config
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run = sweeps.next_run(config, runs, validate=True)
        except Exception as err:
            if self.method != "bayes" or self.fallback:
                raise SweepError(
                    f"the `sweeps` library failed to suggest a {self.method} run: {err}"
                ) from err
            self.fallback = f"{type(err).__name__}: {err}"
            log.error(
                "bayes search failed inside the `sweeps` library (%s); falling back to random search "
                "over the same parameters. Runs so far are kept.",
                self.fallback,
            )
            return self.suggest(runs)
        if run is None:
            return None
        return {k: _plain(v["value"]) for k, v in run.config.items()}
