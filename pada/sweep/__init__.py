"""Local sweeps: W&B sweep files run without a W&B server (``python -m pada.sweep``)."""

from pada.sweep.runner import RunRecord, SweepResult, run_sweep
from pada.sweep.search import Search, SweepError, load_sweep

__all__ = ["RunRecord", "Search", "SweepError", "SweepResult", "load_sweep", "run_sweep"]
