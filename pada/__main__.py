"""``python -m pada``: compose the config with Hydra and run the experiment it describes."""

from __future__ import annotations

import sys

from pada import offline

# Offline by construction: nothing at run time may reach a model hub or fetch litellm's cost map.
offline.apply()

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from pada.config import register  # noqa: E402
from pada.errors import PadaError  # noqa: E402

register()

# `experiment` is in the defaults list (as null) so that W&B sweeps, whose parameter names cannot
# start with "+", can set it; Hydra then rejects the documented `+experiment=x` as a second value.
# Both spellings mean the same here.
sys.argv = [arg[1:] if arg.startswith("+experiment=") else arg for arg in sys.argv]


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Run one pada job; returns the metric a Hydra sweeper optimizes (validation accuracy)."""
    from pada.run import run

    try:
        return run(cfg)
    except PadaError as err:
        # A mistake in the user's input: one paragraph, no traceback, non-zero exit.
        print(f"pada: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
