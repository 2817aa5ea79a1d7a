"""Config schemas (``schema``) and the range checks types cannot express (``validate``)."""

from pada.config.schema import GROUP_SCHEMAS, PadaConfig, register
from pada.config.validate import validate

__all__ = ["GROUP_SCHEMAS", "PadaConfig", "register", "validate"]
