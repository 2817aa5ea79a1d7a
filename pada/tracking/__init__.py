"""Experiment tracking: one W&B run per job (:class:`Tracker`), secret redaction, standard figures."""

from pada.tracking.redact import REDACTED, redact
from pada.tracking.tracker import Tracker, flatten

__all__ = ["REDACTED", "Tracker", "flatten", "redact"]
