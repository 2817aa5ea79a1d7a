"""The teacher providers: one class per kind of endpoint, named by the role's ``_target_``.

A ``teacher`` or ``judge`` config node is built with ``hydra.utils.instantiate``: its ``_target_``
names one of these classes (``pada.teacher.providers.LocalServer`` in ``conf/teacher/local.yaml``)
and its other keys are the class's fields, which are those of :class:`~pada.config.schema.LMConfig`.
Each class says only what differs between endpoints: where the OpenAI-compatible endpoint is, the
LiteLLM model string, the key, and what the endpoint supports (seeds, log-probabilities, JSON
schemas). Everything after that is one path (:func:`pada.teacher.lm.build_lm`).

A provider of one's own is a subclass of :class:`Provider` with its own :meth:`Provider.endpoint`,
selected with ``teacher._target_=my_package.MyProvider``.
"""

from __future__ import annotations

import os
import pydoc
from dataclasses import dataclass
from typing import Any, ClassVar

from hydra.utils import instantiate

from pada.config.schema import LMConfig, typed
from pada.errors import ConfigError

#: The key every local OpenAI-compatible server accepts (they check none).
LOCAL_KEY = "sk-local"


@dataclass
class Endpoint:
    """Where a provider's calls go.

    LiteLLM's model string, the base URL and key (``None``: LiteLLM's own default), and the local
    server behind it, if pada started one.
    """

    model: str
    api_base: str | None = None
    api_key: str | None = None
    server: Any = None


@dataclass
class Provider(LMConfig):
    """A teacher or judge endpoint and its settings (the fields of :class:`LMConfig`).

    Class attributes, per provider: ``name`` (the ``conf/teacher`` option and the label in run
    records), ``seeded`` (its API takes a ``seed``, so distinct rollouts sample differently and
    reproducibly), ``has_logprobs`` and ``has_json_schema`` (the defaults of the ``logprobs`` and
    ``json_schema`` keys when they are ``null``), ``needs_key`` (no call works without the key named
    by ``api_key_env``), ``prefix`` (LiteLLM's provider prefix of the model string).
    """

    name: ClassVar[str] = "provider"
    prefix: ClassVar[str] = "openai"
    seeded: ClassVar[bool] = False
    has_logprobs: ClassVar[bool] = False
    has_json_schema: ClassVar[bool] = False
    needs_key: ClassVar[bool] = False

    def __post_init__(self) -> None:
        # The class instantiate built, whatever default the field had: run records name the real one.
        self._target_ = f"{type(self).__module__}.{type(self).__qualname__}"

    def endpoint(self, role: str, servers: Any) -> Endpoint:
        """Where this role's calls go; start what has to run (``servers`` owns local processes).

        By default: LiteLLM's own endpoint for ``<prefix>/<model>``, with the key from the environment.

        Raises:
            ConfigError: A setting the endpoint needs is missing.
        """
        return Endpoint(self.prefixed(self.prefix), api_key=self.api_key(role))

    def api_key(self, role: str) -> str | None:
        """The key from the environment variable ``api_key_env`` names (never from config).

        Raises:
            ConfigError: ``needs_key`` and the variable is unset.
        """
        env = self.api_key_env
        key = os.environ.get(env) if env else None
        if self.needs_key and not key:
            raise ConfigError(
                f"`{role}` uses provider {self.name!r}, which needs an API key, but the environment "
                f"variable {env!r} named by `{role}.api_key_env` is not set."
            )
        return key

    def prefixed(self, prefix: str) -> str:
        """``model`` as LiteLLM's ``<prefix>/<model>`` string (unchanged if it has the prefix)."""
        model = str(self.model)
        return model if model.startswith(f"{prefix}/") else f"{prefix}/{model}"


@dataclass
class LocalServer(Provider):
    """The embedded GGUF, served by llama.cpp's ``llama-server`` that pada starts, watches and stops."""

    name: ClassVar[str] = "local"
    seeded: ClassVar[bool] = True
    has_logprobs: ClassVar[bool] = True
    has_json_schema: ClassVar[bool] = True

    def endpoint(self, role: str, servers: Any) -> Endpoint:
        """A server for ``model`` (a ``.gguf`` path or an asset name), shared by roles that match."""
        if servers is None:
            raise ValueError("a local teacher needs a server owner: build it inside open_lms()")
        from pada.teacher.lm import resolve_gguf  # lazy: the asset store only for local teachers

        server = servers.get(resolve_gguf(str(self.model)), self)
        return Endpoint("openai/teacher", api_base=server.api_base, api_key=LOCAL_KEY, server=server)


@dataclass
class OpenAICompatible(Provider):
    """Any OpenAI-compatible server at ``api_base``: vLLM, Ollama, a llama.cpp server, a proxy."""

    name: ClassVar[str] = "openai_compatible"
    seeded: ClassVar[bool] = True
    has_logprobs: ClassVar[bool] = True

    def endpoint(self, role: str, servers: Any) -> Endpoint:
        """``api_base`` and ``openai/<model>``; the key is optional (a placeholder if unset)."""
        if not self.api_base:
            raise ConfigError(
                f"`{role}.api_base` must be set for provider openai_compatible (e.g. http://host:8000/v1)."
            )
        key = self.api_key(role) or LOCAL_KEY
        return Endpoint(self.prefixed(self.prefix), api_base=str(self.api_base), api_key=key)


@dataclass
class OpenAI(Provider):
    """OpenAI's API; the key from ``api_key_env`` (``OPENAI_API_KEY``)."""

    name: ClassVar[str] = "openai"
    seeded: ClassVar[bool] = True
    has_logprobs: ClassVar[bool] = True
    has_json_schema: ClassVar[bool] = True
    needs_key: ClassVar[bool] = True


@dataclass
class Anthropic(Provider):
    """Anthropic's API (no seeds, no log-probabilities); the key from ``api_key_env``."""

    name: ClassVar[str] = "anthropic"
    prefix: ClassVar[str] = "anthropic"
    needs_key: ClassVar[bool] = True


@dataclass
class Bedrock(Provider):
    """AWS Bedrock; LiteLLM reads the AWS credentials (environment or profile) itself."""

    name: ClassVar[str] = "bedrock"
    prefix: ClassVar[str] = "bedrock"

    def endpoint(self, role: str, servers: Any) -> Endpoint:
        """``bedrock/<model>``, no key: the AWS environment is LiteLLM's to read."""
        return Endpoint(self.prefixed(self.prefix))


#: The shipped providers, by their ``conf/teacher`` option name.
PROVIDERS: dict[str, type[Provider]] = {
    cls.name: cls for cls in (LocalServer, OpenAICompatible, OpenAI, Anthropic, Bedrock)
}


def provider_class(target: str, key: str = "teacher._target_") -> type[Provider]:
    """The :class:`Provider` subclass a ``_target_`` names.

    Raises:
        ConfigError: It names nothing importable, or a class that is not a provider.
    """
    expected = "a pada.teacher.providers.Provider class, e.g. " + ", ".join(
        f"pada.teacher.providers.{cls.__name__}" for cls in PROVIDERS.values()
    )
    # pydoc.locate answers None for a missing module or attribute (hydra's get_class logs an ERROR first)
    cls = pydoc.locate(str(target))
    if cls is None or not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise ConfigError(f"config key `{key}` = {target!r} is invalid: expected {expected}.")
    return cls


def provider_name(cfg: Any) -> str:
    """The provider's name (``local``, ``openai``...) for a ``teacher`` / ``judge`` node, for records."""
    return provider_class(cfg["_target_"]).name


def build_provider(cfg: Any, role: str = "teacher") -> Provider:
    """The provider a ``teacher`` / ``judge`` node configures, built with ``hydra.utils.instantiate``.

    ``cfg`` may be a composed node or a dict of some keys (the schema's defaults fill the rest).

    Raises:
        ConfigError: ``_target_`` names no provider class.
    """
    if isinstance(cfg, Provider):
        return cfg
    node = typed(LMConfig, cfg)
    provider_class(node._target_, f"{role}._target_")
    provider: Provider = instantiate(node, _convert_="all")
    return provider
