"""Secret redaction for anything pada sends to a tracker.

A composed config can carry secrets by mistake: a key force-added on the command line
(``+teacher.api_key=sk-...``), a URL with a token in it, or the value of the environment variable that
``api_key_env`` names copied into some other field. Config is redacted before it reaches W&B, whose
offline files are easy to share (and ``wandb sync`` uploads them), so a secret must not land there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "***REDACTED***"

# Word parts of a key name that mark its value as secret. Matched against the parts of the name split
# on "_", "-", "." and case changes, so ``max_tokens`` or ``input_tokens`` (counts) are not secrets
# while ``api_key``, ``hf_token`` or ``dbPassword`` are.
_SECRET_WORDS = frozenset(
    {"key", "apikey", "token", "secret", "password", "passwd", "pwd", "credential", "credentials"}
)

# Names whose value is the *name* of an environment variable, never a secret: pada reads keys from the
# environment (``api_key_env: OPENAI_API_KEY``). Their values are what we need to know to redact the
# secret itself, wherever it was copied.
_ENV_NAME_SUFFIX = "_env"

# Shapes of well-known credentials. A match anywhere in a string redacts the whole string: a key in a
# URL or a header is as secret as a bare key.
_SECRET_PATTERNS = [
    re.compile(r"\bsk-[A-Za-z0-9_\-]{12,}"),  # OpenAI, Anthropic (sk-ant-...), many OpenAI-compatible servers
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),  # Hugging Face tokens
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),  # Slack tokens
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),  # Google API keys
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._\-]{16,}"),
]

# Shorter environment values are too likely to occur by chance (``1``, ``true``) to be searched for
# inside other strings; they are still redacted where they are the whole value.
_MIN_SUBSTRING_SECRET = 8


def _name_words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[_\-.\s]+", spaced.lower()) if w]


def is_secret_name(name: str) -> bool:
    """Whether a config key's name says its value is a secret.

    Args:
        name: The key, e.g. ``api_key``, ``hf_token`` or ``max_tokens``.

    Returns:
        True for names with a word such as key, token, secret or password, except names of
        environment variables (ending in ``_env``), whose values are names, not secrets.
    """
    if name.lower().endswith(_ENV_NAME_SUFFIX):
        return False
    return any(word in _SECRET_WORDS for word in _name_words(name))


def looks_like_secret(value: str) -> bool:
    """Whether a string contains something shaped like a well-known API key or bearer token."""
    return any(p.search(value) for p in _SECRET_PATTERNS)


def env_secrets(config: Any, extra_env_names: Iterable[str] = ()) -> set[str]:
    """Collect the values of the environment variables that the config's ``*_env`` fields name.

    Args:
        config: A nested mapping / list structure (a composed config as plain containers).
        extra_env_names: More variable names whose values are secrets (e.g. ``WANDB_API_KEY``).

    Returns:
        The non-empty values of those variables in the current environment.
    """
    names: set[str] = set(extra_env_names)

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if str(key).lower().endswith(_ENV_NAME_SUFFIX) and isinstance(value, str):
                    names.add(value)
                walk(value)
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item)

    walk(config)
    return {v for n in names if (v := os.environ.get(n))}


def redact(node: Any, secrets: Iterable[str] = ()) -> Any:
    """Return a copy of ``node`` with secret-looking values replaced by ``***REDACTED***``.

    A value is redacted when its key name marks it secret (:func:`is_secret_name`), when it looks like a
    credential (:func:`looks_like_secret`), or when it equals or contains one of ``secrets``.

    Args:
        node: Plain containers (dicts, lists) and scalars.
        secrets: Known secret values, e.g. from :func:`env_secrets`.

    Returns:
        The redacted copy; the input is not modified.
    """
    known = {s for s in secrets if s}
    long_known = [s for s in known if len(s) >= _MIN_SUBSTRING_SECRET]

    def secret_string(value: str) -> bool:
        return value in known or any(s in value for s in long_known) or looks_like_secret(value)

    def walk(value: Any, key: str | None) -> Any:
        # None under a secret name stays None: "not set" is useful to see and reveals nothing.
        if key is not None and is_secret_name(key) and value is not None:
            return REDACTED
        if isinstance(value, Mapping):
            return {k: walk(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v, None) for v in value]
        if isinstance(value, str) and secret_string(value):
            return REDACTED
        return value

    return walk(node, None)


def redact_argv(argv: list[str], secrets: Iterable[str] = ()) -> list[str]:
    """Redact command-line arguments such as ``+teacher.api_key=sk-...`` (Hydra overrides).

    Args:
        argv: Arguments (without the program name).
        secrets: Known secret values.

    Returns:
        The arguments with secret values replaced; ``key=value`` keeps its key.
    """
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and is_secret_name(key.lstrip("+~").rsplit(".", 1)[-1]):
            out.append(f"{key}={REDACTED}")
        elif sep:
            redacted = redact(value, secrets)
            out.append(arg if redacted == value else f"{key}={REDACTED}")
        else:
            out.append(redact(arg, secrets))
    return out
