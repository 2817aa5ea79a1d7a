"""A sweep run's command line, expanded the way ``wandb agent`` expands it.

W&B's macro helpers (``wandb.sdk.launch.sweeps.utils``) do the work: ``${envvar:NAME}`` substitution
and the argument formats (``${args}`` = ``--key=value``, ``${args_no_hyphens}`` = ``key=value`` for
Hydra, ``${args_json}``, ...). The agent's own loop that joins them (``wandb_agent.Agent``) is not
reusable on its own and is mirrored here, with one deliberate difference: ``${interpreter}`` is this
process's Python (``sys.executable``) rather than whatever ``python`` is first on ``PATH``, so a sweep
started from a virtual environment runs its jobs in it even when it is not activated.
"""

from __future__ import annotations

import platform
import shlex
import sys
from pathlib import Path
from typing import Any

# W&B's default when a sweep file has no `command`.
DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]


def uses_args_json_file(config: dict[str, Any]) -> bool:
    """Whether the sweep's command reads its parameters from a JSON file (``${args_json_file}``)."""
    return "${args_json_file}" in [str(c) for c in config.get("command") or DEFAULT_COMMAND]


def expand_command(
    config: dict[str, Any], params: dict[str, Any], args_json_file: Path | None = None
) -> list[str]:
    """Build the argv of one sweep run.

    Args:
        config: The sweep config (its ``command`` and ``program``).
        params: The run's parameters (name -> value).
        args_json_file: What ``${args_json_file}`` stands for; the caller writes the file
            (``json.dumps(params)``, as W&B does) when :func:`uses_args_json_file`.

    Returns:
        The command as a list of arguments.
    """
    from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

    # create_sweep_command edits the list in place; the config is reused for every run.
    template = create_sweep_command(list(config.get("command") or DEFAULT_COMMAND))
    macros: dict[str, Any] = create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})
    macros["interpreter"] = [sys.executable]
    macros["program"] = [str(config["program"])] if config.get("program") is not None else []
    macros["env"] = [] if platform.system() == "Windows" else ["/usr/bin/env"]
    macros["args_json_file"] = [str(args_json_file)] if args_json_file is not None else []
    argv: list[str] = []
    for chunk in map(str, template):
        if chunk.startswith("${") and chunk.endswith("}"):
            argv.extend(str(a) for a in macros.get(chunk[2:-1]) or [])
        else:
            argv.append(chunk)
    return argv


def hydra_run_dir_override(run_dir: Path) -> str:
    """Build the ``hydra.run.dir=...`` override that puts a Hydra job's outputs in ``run_dir``.

    Args:
        run_dir: The folder for the job.

    Returns:
        The override, with the path quoted when Hydra's grammar would otherwise misread it.
    """
    path = str(run_dir)
    # Commas would make a sweep list, and spaces or brackets break the override grammar.
    if any(c in path for c in " ,[]{}()'\"=:$\\"):
        escaped = path.replace("\\", "\\\\").replace("'", "\\'")
        return f"hydra.run.dir='{escaped}'"
    return f"hydra.run.dir={path}"


def args_summary(params: dict[str, Any]) -> str:
    """Label a run by its parameters, file-name safe and short, e.g. ``method-sft_seed-0``.

    Args:
        params: The run's parameters.

    Returns:
        Up to 80 characters of ``name-value`` pairs (last part of dotted names, 4 significant digits).
    """
    parts = []
    for key, value in params.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        parts.append(f"{key.rsplit('.', 1)[-1]}-{shown}")
    label = "_".join(parts)
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in label)
    return safe[:80].rstrip("-_.")


def format_command(argv: list[str]) -> str:
    """Join argv for printing, quoting what a shell would need quoted."""
    return shlex.join(argv)
