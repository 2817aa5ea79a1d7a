"""Build a part from a config node that names its class with ``_target_`` (``hydra.utils.instantiate``).

One place for what every such node needs: a missing ``_target_``, a ``???`` left unset and an argument
the class does not take each become one line that names the config key; an error of pada's own raised
by the class (a bad value it checked) passes through as it is.
"""

from __future__ import annotations

from typing import Any

from pada.errors import ConfigError, PadaError


def build(node: Any, key: str, example: str, error: type[PadaError] = ConfigError) -> Any:
    """``hydra.utils.instantiate(node)``, with errors that name ``key``.

    Args:
        node: The node (a mapping with ``_target_`` and the class's arguments).
        key: Its full config key, e.g. ``dataset.loader``.
        example: A class it could name, for the message when ``_target_`` is missing.
        error: The error type to raise (a :class:`PadaError`).

    Raises:
        PadaError: ``error`` naming the key, or the class's own :class:`PadaError`.
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate
    from omegaconf.errors import MissingMandatoryValue

    if "_target_" not in node:
        raise error(f"config key `{key}._target_` is missing: the class to build, e.g. {example}")
    try:
        return instantiate(node, _convert_="all")
    except MissingMandatoryValue as err:  # a ??? left unset, e.g. dataset=jsonl without its path
        full = err.full_key if err.full_key.startswith(key.split(".")[0] + ".") else f"{key}.{err.full_key}"
        raise error(f"config key `{full}` is missing; set it, e.g. {full}=...") from None
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, PadaError):
            raise cause from None
        raise error(f"config key `{key}` ({node['_target_']}): {cause or err}") from None
