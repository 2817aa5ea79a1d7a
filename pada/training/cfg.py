"""Read config values the same way from OmegaConf nodes, dataclasses and plain dicts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def cfg_value(cfg: Any, key: str, default: Any = None) -> Any:
    """``cfg.key`` if it is set, else ``default``.

    Lets the training code accept a composed ``DictConfig``, a schema dataclass or a dict, and read keys
    that a schema may not declare yet (with a default) without failing.
    """
    if cfg is None:
        return default
    if isinstance(cfg, Mapping) or hasattr(cfg, "get") and not hasattr(cfg, "__dataclass_fields__"):
        try:
            value = cfg.get(key, default)
        except Exception:  # OmegaConf raises on missing keys of a struct node with no default
            value = default
    else:
        value = getattr(cfg, key, default)
    return default if value is None else value
