"""The embedded teacher in-process: a DSPy engine around ``llama_cpp.Llama``.

The alternative to :mod:`pada.agents.local_server` (``teacher.backend=in_process``): no subprocess and
no HTTP, at the price of holding the model in pada's own process. DSPy hands the engine one canonical
``Request`` per call and expects one ``Response``; rollouts differ through the request's ``seed``.
A JSON response format becomes a llama.cpp grammar, so JSON answers are well-formed by construction.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

from dspy.lm15 import Message, Request, Response, TextPart, Usage

from pada.agents.local_server import LLAMA_ENV, default_threads

_FINISH = {"stop": "stop", "length": "length"}


def _text(parts: Any) -> str:
    if parts is None:
        return ""
    if isinstance(parts, str):
        return parts
    return "".join(getattr(p, "text", "") or "" for p in parts)


def chat_messages(request: Request) -> list[dict[str, str]]:
    """A DSPy request's system prompt and messages as chat-completion messages."""
    messages: list[dict[str, str]] = []
    if request.system is not None:
        messages.append({"role": "system", "content": _text(request.system)})
    for m in request.messages:
        messages.append({"role": m.role, "content": m.text or ""})
    return messages


#: What the in-process engines tell DSPy they accept. With ``response_format`` among them DSPy's JSON
#: adapter asks for a JSON object, which the engines enforce with a grammar, as ``llama_cpp.server``
#: does for the server backend; without it the answers came back as free text (about 40% longer,
#: often fenced). No response schema: a schema grammar is stricter than what the server is asked.
SUPPORTED_PARAMS = ("temperature", "max_tokens", "top_p", "stop", "seed", "response_format")


def _llama_response_format(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    # llama-cpp-python knows only {"type": "json_object"[, "schema"]}; canonical json_schema maps onto it.
    if not fmt:
        return None
    kind = fmt.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema" and isinstance(fmt.get("schema"), dict):
        return {"type": "json_object", "schema": fmt["schema"]}
    return None


class LlamaCppEngine:
    """A DSPy engine (``complete(Request) -> Response``) that runs a GGUF with llama.cpp in-process.

    The model loads lazily on the first call; a lock serializes calls because a ``Llama`` context is
    not thread-safe.

    Args:
        model_path: The GGUF file.
        n_ctx: Context length in tokens.
        n_threads: CPU threads (``None``: all available cores).
        name: The model name reported in responses.
    """

    supported_params = SUPPORTED_PARAMS
    supports_response_schema = False

    def __init__(
        self, model_path: str | Path, n_ctx: int = 4096, n_threads: int | None = None, name: str = "local"
    ):
        self.model_path = str(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.name = name
        self._llama: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        if self._llama is None:
            if "llama_cpp" not in sys.modules:
                # OpenMP reads its wait policy when it loads: see local_server.LLAMA_ENV. (If torch
                # loaded OpenMP first, this comes too late; the server backend is not affected.)
                for key, value in LLAMA_ENV.items():
                    os.environ.setdefault(key, value)
            from llama_cpp import Llama

            self._llama = Llama(
                model_path=self.model_path,
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                verbose=False,
            )
        return self._llama

    def complete(self, request: Request) -> Response:
        """Run one chat completion."""
        messages = chat_messages(request)
        cfg = request.config
        kwargs: dict[str, Any] = {
            "temperature": 0.0 if cfg.temperature is None else cfg.temperature,
            "max_tokens": cfg.max_tokens,
            "seed": cfg.seed,
            "stop": list(cfg.stop) or None,
            "response_format": _llama_response_format(cfg.response_format),
        }
        if cfg.top_p is not None:
            kwargs["top_p"] = cfg.top_p
        with self._lock:
            out = self._model().create_chat_completion(messages=messages, **kwargs)
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Response(
            id=out.get("id") or None,
            model=self.name,
            message=Message.assistant([TextPart(choice["message"].get("content") or "")]),
            finish_reason=_FINISH.get(choice.get("finish_reason") or "stop", "stop"),
            usage=Usage(
                input_tokens=usage.get("prompt_tokens"), output_tokens=usage.get("completion_tokens")
            ),
        )

    def stream(self, request: Request):  # noqa: D102 - DSPy's engine protocol; streaming unused in pada
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        """Free the model."""
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None
