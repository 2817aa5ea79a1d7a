"""The embedded teacher in-process with continuous batching: several calls decode together.

On a CPU, decoding one sequence is bound by memory bandwidth: every token reads all the weights once.
Decoding four sequences in one llama.cpp batch reads them once for all four, so the throughput in
tokens per second grows almost with the number of sequences until the cores' arithmetic is the limit
(``bench/teacher_decode.py`` measures it). This engine (``teacher.backend=batched``) keeps up to
``teacher.concurrency`` requests in flight in one llama.cpp context, one KV-cache sequence each:

- a request joins as soon as a slot is free (continuous batching) and leaves when it ends;
- a prompt that shares a prefix with what a slot already holds (the agents' instructions) reuses that
  slot's KV cells instead of evaluating the prefix again;
- each request samples with its own sampler chain and seed, and a JSON response format becomes a
  llama.cpp grammar, as with ``llama_cpp.server``. The grammar checks the sampled token and only
  when it refuses it is applied to the whole vocabulary and the token drawn again (llama.cpp's own
  order): applying it to all 150k candidates at every step halved the batch's throughput.

DSPy calls :meth:`BatchedLlamaEngine.complete` from the agents' worker threads; one scheduler thread
owns every llama.cpp object.
"""

from __future__ import annotations

import ctypes
import logging
import os
import random
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from dspy.lm15 import Message, Request, Response, TextPart, Usage

from pada.agents.local_engine import SUPPORTED_PARAMS, _llama_response_format, chat_messages
from pada.agents.local_server import LLAMA_ENV, default_threads

log = logging.getLogger(__name__)

#: ``llama_token_data`` (id, logit, p) as a numpy record, to hand llama.cpp a whole vocabulary at once.
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])

#: A call admitted with another that shares a longer prefix than the KV cache holds waits one step
#: (if that is more than this many tokens) and then copies the prefix instead of evaluating it again.
PREFIX_WAIT = 32

#: llama-cpp-python's chat-completion defaults, so that answers match the server backend's in kind.
TOP_K, TOP_P, MIN_P = 40, 0.95, 0.05


class BatchedEngineError(RuntimeError):
    """The batched engine could not serve a request (the message says why)."""


@dataclass
class _Job:
    """One request on its way through the scheduler."""

    prompt: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int
    grammar: bytes | None
    stop: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    output: list[int] = field(default_factory=list)
    text: str = ""
    finish: str = "stop"
    error: BaseException | None = None
    slot: int = -1
    sampler: Any = None
    grammar_sampler: Any = None
    logit_index: int = -1


class BatchedLlamaEngine:
    """A DSPy engine (``complete(Request) -> Response``) decoding up to ``parallel`` calls together.

    Args:
        model_path: The GGUF file.
        n_ctx: Context length per sequence, in tokens (prompt plus answer).
        n_threads: CPU threads (``None``: all available cores).
        parallel: Sequences decoded together (slots); the agents' ``concurrency`` should match it.
        n_batch: Most tokens evaluated in one llama.cpp call (long prompts are split).
        name: The model name reported in responses.
    """

    supported_params = SUPPORTED_PARAMS
    supports_response_schema = False

    def __init__(
        self,
        model_path: str | Path,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        parallel: int = 4,
        n_batch: int = 512,
        name: str = "local",
    ) -> None:
        if parallel < 1:
            raise ValueError(f"parallel must be >= 1, got {parallel}")
        self.model_path = str(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.parallel = parallel
        self.n_batch = n_batch
        self.name = name
        self._cond = threading.Condition()
        self._pending: deque[_Job] = deque()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._load_error: BaseException | None = None
        # llama.cpp state, owned by the scheduler thread.
        self._model: Any = None
        self._ctx: Any = None
        self._format: Any = None
        self._slots: list[list[int]] = [[] for _ in range(parallel)]  # tokens each slot's KV holds
        self._active: list[_Job | None] = [None] * parallel
        #: Prompt tokens received, and those served from a slot's cached prefix instead of evaluated.
        self.stats = {"calls": 0, "prompt_tokens": 0, "reused_prompt_tokens": 0, "output_tokens": 0}

    # ---------------------------------------------------------------------------- public protocol

    def complete(self, request: Request) -> Response:
        """Run one chat completion (blocks until its sequence ends)."""
        if self._closed:
            raise BatchedEngineError("the batched engine is closed")
        self._start()
        messages = chat_messages(request)
        cfg = request.config
        fmt = _llama_response_format(cfg.response_format)
        job = _Job(
            prompt=self._tokenize(self._format(messages=messages).prompt),
            max_tokens=int(cfg.max_tokens or 512),
            temperature=0.0 if cfg.temperature is None else float(cfg.temperature),
            top_p=TOP_P if cfg.top_p is None else float(cfg.top_p),
            seed=int(cfg.seed) if cfg.seed is not None else random.getrandbits(31),
            grammar=_grammar(fmt),
            stop=[s for s in (cfg.stop or []) if s],
        )
        if len(job.prompt) >= self.n_ctx:
            raise BatchedEngineError(
                f"the prompt has {len(job.prompt)} tokens; the context holds {self.n_ctx} per sequence "
                "(raise teacher.n_ctx)"
            )
        job.max_tokens = min(job.max_tokens, self.n_ctx - len(job.prompt))
        with self._cond:
            if self._closed:
                raise BatchedEngineError("the batched engine is closed")
            self._pending.append(job)
            self._cond.notify_all()
        job.done.wait()
        if job.error is not None:
            raise BatchedEngineError(f"the batched engine failed: {job.error}") from job.error
        return Response(
            id=None,
            model=self.name,
            message=Message.assistant([TextPart(job.text)]),
            finish_reason=job.finish,
            usage=Usage(input_tokens=len(job.prompt), output_tokens=len(job.output)),
        )

    def stream(self, request: Request):  # noqa: D102 - DSPy's engine protocol; streaming unused in pada
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        """Stop the scheduler (requests still waiting fail) and free the model."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # ---------------------------------------------------------------------------- loading

    def _start(self) -> None:
        with self._cond:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="pada-batched-llama", daemon=True)
                self._thread.start()
        self._ready.wait()
        if self._load_error is not None:
            raise BatchedEngineError(f"could not load {self.model_path}: {self._load_error}")

    def _load(self) -> None:
        if "llama_cpp" not in sys.modules:
            # OpenMP reads its wait policy when it loads (see local_server.LLAMA_ENV).
            for key, value in LLAMA_ENV.items():
                os.environ.setdefault(key, value)
        import llama_cpp
        from llama_cpp import _internals
        from llama_cpp._logger import set_verbose
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        set_verbose(False)  # llama.cpp's load and graph logs: errors only, as Llama(verbose=False) does

        if not Path(self.model_path).is_file():
            raise FileNotFoundError(f"the teacher GGUF {self.model_path} does not exist")
        llama_cpp.llama_backend_init()
        self._model = _internals.LlamaModel(
            path_model=self.model_path, params=llama_cpp.llama_model_default_params(), verbose=False
        )
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.n_ctx * self.parallel
        params.n_batch = self.n_batch
        params.n_ubatch = self.n_batch
        params.n_seq_max = self.parallel
        params.n_threads = self.n_threads
        params.n_threads_batch = self.n_threads
        params.kv_unified = True  # slots share prefix cells (seq_cp tags cells, copies nothing)
        self._ctx = _internals.LlamaContext(model=self._model, params=params, verbose=False)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, self.parallel)
        meta = self._model.metadata()
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise ValueError("the GGUF has no chat template (tokenizer.chat_template)")
        eos = self._model.token_eos()
        bos = self._model.token_bos()
        self._format = Jinja2ChatFormatter(
            template=template,
            eos_token=self._model.token_get_text(eos) if eos != -1 else "",
            bos_token=self._model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
        self._llama_cpp = llama_cpp

    def _tokenize(self, prompt: str) -> list[int]:
        # The chat template writes the special tokens itself: no BOS added, specials parsed.
        return list(self._model.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    # ---------------------------------------------------------------------------- scheduling

    def _run(self) -> None:
        try:
            self._load()
        except BaseException as exc:  # noqa: BLE001 - reported to every caller
            self._load_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                with self._cond:
                    while not self._closed and not self._pending and not any(self._active):
                        self._cond.wait()
                    if self._closed:
                        break
                    admitted = self._admit()
                self._step(admitted)
        except BaseException as exc:  # noqa: BLE001 - every caller in flight gets the error
            log.exception("batched engine failed")
            self._fail_all(exc)
        finally:
            with self._cond:
                self._closed = True  # later calls fail at once instead of waiting for a dead scheduler
            self._fail_all(BatchedEngineError("the batched engine was closed"))
            self._free()

    def _admit(self) -> list[_Job]:
        """Move waiting jobs into free slots (the caller holds the lock)."""
        admitted = []
        for slot in range(self.parallel):
            if self._active[slot] is None and self._pending:
                job = self._pending.popleft()
                job.slot = slot
                self._active[slot] = job
                admitted.append(job)
        return admitted

    def _step(self, admitted: list[_Job]) -> None:
        running = [j for j in self._active if j is not None and j not in admitted]
        # 1. Each running sequence samples its next token from the last evaluation's logits.
        decode: list[tuple[int, int, int]] = []  # (token, position, slot) to evaluate next
        for job in running:
            token = self._sample(job)
            if self._finished(job, token):
                self._release(job)
                continue
            job.output.append(token)
            self._slots[job.slot].append(token)
            decode.append((token, len(self._slots[job.slot]) - 1, job.slot))
        # 2. New sequences: reuse a held prefix; the rest of the prompt rides in the same evaluation.
        prompts: list[tuple[int, int, int]] = []  # prompt tokens whose logits nobody needs
        fresh: list[int] = []  # slots whose prompt is in this evaluation, not yet in the KV cache
        deferred: list[_Job] = []
        for job in admitted:
            in_kv = max((_common_prefix(h, job.prompt) for s, h in enumerate(self._slots) if s not in fresh),
                        default=0)  # fmt: skip
            queued = max((_common_prefix(self._slots[s], job.prompt) for s in fresh), default=0)
            if queued > in_kv + PREFIX_WAIT:
                deferred.append(job)  # one step later it shares that prefix instead of evaluating it
                continue
            job.sampler = self._sampler(job)
            start = self._reuse_prefix(job, exclude=fresh)
            fresh.append(job.slot)
            self.stats["calls"] += 1
            self.stats["prompt_tokens"] += len(job.prompt)
            self.stats["reused_prompt_tokens"] += start
            prompts += [(t, start + k, job.slot) for k, t in enumerate(job.prompt[start:-1])]
            self._slots[job.slot] = list(job.prompt)
            decode.append((job.prompt[-1], len(job.prompt) - 1, job.slot))
        if deferred:
            with self._cond:
                for job in reversed(deferred):
                    self._active[job.slot] = None
                    job.slot = -1
                    self._pending.appendleft(job)
        if not decode:
            return
        if len(decode) > self.n_batch:  # pragma: no cover - needs more slots than n_batch
            raise BatchedEngineError("more sequences than n_batch")
        # 3. One evaluation (a few if the prompts are long) in which every sequence's newest token comes
        # last: a llama.cpp call keeps only its own logits. On a CPU, decoding a handful of tokens
        # alongside a prompt costs little more than the prompt alone.
        head = len(prompts) - (self.n_batch - len(decode))
        for i in range(0, max(head, 0), self.n_batch):
            self._eval(prompts[i : min(i + self.n_batch, head)], logits_from=None)
        tail = prompts[max(head, 0) :]
        self._eval(tail + decode, logits_from=len(tail))
        for k, (_, _, slot) in enumerate(decode):
            job = self._active[slot]
            if job is not None:
                job.logit_index = len(tail) + k

    def _reuse_prefix(self, job: _Job, exclude: list[int]) -> int:
        """Copy into the job's slot the longest prefix of its prompt the KV cache holds; return its length.

        Slots in ``exclude`` were admitted in this step: their prompts are not in the cache yet.
        """
        mem = self._llama_cpp.llama_get_memory(self._ctx.ctx)
        best, best_len = job.slot, 0
        for slot, held in enumerate(self._slots):
            if slot in exclude:
                continue
            n = _common_prefix(held, job.prompt)
            if n > best_len or (n == best_len and slot == job.slot):
                best, best_len = slot, n
        best_len = min(best_len, len(job.prompt) - 1)  # the last token is evaluated for its logits
        self._llama_cpp.llama_memory_seq_rm(mem, job.slot, best_len if best == job.slot else 0, -1)
        if best != job.slot and best_len > 0:
            self._llama_cpp.llama_memory_seq_cp(mem, best, job.slot, 0, best_len)
        return best_len

    def _eval(self, tokens: list[tuple[int, int, int]], logits_from: int | None) -> None:
        """Evaluate ``(token, position, slot)`` entries; keep logits for those from ``logits_from`` on."""
        L, batch = self._llama_cpp, self._batch
        batch.n_tokens = len(tokens)
        for i, (token, pos, slot) in enumerate(tokens):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = slot
            batch.logits[i] = logits_from is not None and i >= logits_from
        rc = L.llama_decode(self._ctx.ctx, batch)
        if rc != 0:
            raise BatchedEngineError(f"llama_decode returned {rc} (the KV cache may be full)")

    def _sample(self, job: _Job) -> int:
        """The job's next token from its logits; a grammar, if any, vets it (see the module's notes)."""
        L = self._llama_cpp
        token = L.llama_sampler_sample(job.sampler, self._ctx.ctx, job.logit_index)
        if job.grammar_sampler is None:
            return token
        one = (L.llama_token_data * 1)(L.llama_token_data(token, 1.0, 0.0))
        single = L.llama_token_data_array(one, 1, -1, False)
        L.llama_sampler_apply(job.grammar_sampler, ctypes.byref(single))
        if one[0].logit == float("-inf"):
            n_vocab = self._model.n_vocab()
            logits = L.llama_get_logits_ith(self._ctx.ctx, job.logit_index)
            data = np.zeros(n_vocab, dtype=_TOKEN_DATA)
            data["id"] = np.arange(n_vocab, dtype=np.int32)
            data["logit"] = np.ctypeslib.as_array(logits, shape=(n_vocab,))
            candidates = L.llama_token_data_array(
                data.ctypes.data_as(L.llama_token_data_p), n_vocab, -1, False
            )
            L.llama_sampler_apply(job.grammar_sampler, ctypes.byref(candidates))
            L.llama_sampler_apply(job.sampler, ctypes.byref(candidates))
            token = int(data["id"][candidates.selected])
        L.llama_sampler_accept(job.grammar_sampler, token)
        return token

    def _sampler(self, job: _Job) -> Any:
        L = self._llama_cpp
        chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
        if job.grammar is not None:
            job.grammar_sampler = L.llama_sampler_init_grammar(self._model.vocab, job.grammar, b"root")
            if not job.grammar_sampler:
                raise BatchedEngineError("the response format's grammar did not compile")
        if job.temperature <= 0:
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())
        else:
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_top_k(TOP_K))
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_top_p(job.top_p, 1))
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_min_p(MIN_P, 1))
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_temp(job.temperature))
            L.llama_sampler_chain_add(chain, L.llama_sampler_init_dist(job.seed & 0xFFFFFFFF))
        return chain

    def _finished(self, job: _Job, token: int) -> bool:
        """Whether ``token`` ends the job (its text is then final)."""
        L = self._llama_cpp
        if L.llama_vocab_is_eog(self._model.vocab, token):
            job.finish = "stop"
        elif len(job.output) >= job.max_tokens:
            job.finish = "length"
        else:
            if job.stop:
                text = self._detokenize(job.output + [token])
                for s in job.stop:
                    if s in text:
                        job.output.append(token)
                        job.text = text[: text.index(s)]
                        job.finish = "stop"
                        return True
            return False
        job.text = self._detokenize(job.output)
        return True

    def _detokenize(self, tokens: list[int]) -> str:
        return self._model.detokenize(tokens, special=False).decode("utf-8", errors="ignore")

    def _free_samplers(self, job: _Job) -> None:
        for name in ("sampler", "grammar_sampler"):
            if getattr(job, name) is not None:
                self._llama_cpp.llama_sampler_free(getattr(job, name))
                setattr(job, name, None)

    def _release(self, job: _Job) -> None:
        self.stats["output_tokens"] += len(job.output)
        self._free_samplers(job)
        # Keep the prompt's cells (the next prompt may share its prefix), drop the answer's: every cell
        # of the shared KV cache is in every later step's attention, masked or not.
        mem = self._llama_cpp.llama_get_memory(self._ctx.ctx)
        self._llama_cpp.llama_memory_seq_rm(mem, job.slot, len(job.prompt), -1)
        self._slots[job.slot] = list(job.prompt)
        with self._cond:
            self._active[job.slot] = None
        job.done.set()

    def _fail_all(self, exc: BaseException) -> None:
        with self._cond:
            jobs = [j for j in self._active if j is not None] + list(self._pending)
            self._active = [None] * self.parallel
            self._pending.clear()
        for job in jobs:
            if self._model is not None:
                self._free_samplers(job)
            job.error = exc
            job.done.set()

    def _free(self) -> None:
        if self._model is None:
            return
        self._llama_cpp.llama_batch_free(self._batch)
        self._ctx.close()
        self._model.close()
        self._ctx = self._model = None


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _grammar(fmt: dict[str, Any] | None) -> bytes | None:
    """A GBNF grammar for a llama-cpp-python style response format (``None``: free text)."""
    if not fmt:
        return None
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    if isinstance(fmt.get("schema"), dict):
        import json

        return json_schema_to_gbnf(json.dumps(fmt["schema"])).encode("utf-8")
    return JSON_GBNF.encode("utf-8")


__all__ = ["BatchedEngineError", "BatchedLlamaEngine"]
