"""The error every user-facing failure in pada derives from.

A :class:`PadaError` carries a message written for a person: what went wrong and where (a config key,
a file and line, an asset name). The command-line entry prints it as one paragraph and exits non-zero
instead of showing a traceback.
"""


class PadaError(Exception):
    """A failure caused by the user's input or environment, with a message meant for them."""


class ConfigError(PadaError, ValueError):
    """An invalid config value; the message names the key."""
