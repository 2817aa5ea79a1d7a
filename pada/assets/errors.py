"""The error raised for every asset-store failure."""

from __future__ import annotations

from pada.errors import PadaError


class AssetError(PadaError):
    """An asset could not be found, fetched or verified; the message names the asset (and package)."""
