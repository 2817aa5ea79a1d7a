"""The one error type that task loading, splitting and item I/O raise."""

from __future__ import annotations

from pada.errors import PadaError


class TaskDataError(PadaError, ValueError):
    """Task data is missing, malformed, or cannot satisfy the requested splits.

    The message always says where the problem is (file, line, field or config key) and what was
    expected, so a user can fix the data or the config without reading pada's source.
    """
