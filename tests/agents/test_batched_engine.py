"""The batched in-process engine: its helpers, its errors, and real concurrent calls on the teacher."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from dspy.lm15 import Config, Message, Request

from pada.agents.batched_engine import BatchedEngineError, BatchedLlamaEngine, _common_prefix, _grammar

TUTOR = "You are a science tutor. Answer in one or two sentences."


def request(
    text: str, seed: int = 0, max_tokens: int = 48, temperature: float = 0.7, fmt=None, system: str = TUTOR
) -> Request:
    return Request(
        model="teacher",
        system=system,
        messages=(Message.user(text),),
        config=Config(max_tokens=max_tokens, temperature=temperature, seed=seed, response_format=fmt),
    )


def test_common_prefix():
    assert _common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert _common_prefix([], [1]) == 0
    assert _common_prefix([1, 2], [1, 2]) == 2


def test_grammar_for_response_formats():
    pytest.importorskip("llama_cpp")
    assert _grammar(None) is None
    assert b"root" in _grammar({"type": "json_object"})
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    assert b"answer" in _grammar({"type": "json_object", "schema": schema})  # the schema's own grammar


def test_parallel_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="parallel"):
        BatchedLlamaEngine(tmp_path / "m.gguf", parallel=0)


def test_a_closed_engine_refuses_calls(tmp_path):
    engine = BatchedLlamaEngine(tmp_path / "m.gguf", parallel=2)
    engine.close()
    with pytest.raises(BatchedEngineError, match="closed"):
        engine.complete(request("Why is the sky blue?"))


def test_a_failed_scheduler_fails_the_call_in_flight_and_refuses_later_ones(tmp_path, monkeypatch):
    from types import SimpleNamespace

    engine = BatchedLlamaEngine(tmp_path / "m.gguf", parallel=2)
    monkeypatch.setattr(engine, "_load", lambda: None)  # no model: only the scheduling is under test
    monkeypatch.setattr(engine, "_format", lambda messages: SimpleNamespace(prompt="hi"), raising=False)
    monkeypatch.setattr(engine, "_tokenize", lambda prompt: [1, 2, 3])

    def broken_step(admitted):
        raise RuntimeError("decode blew up")

    monkeypatch.setattr(engine, "_step", broken_step)
    with pytest.raises(BatchedEngineError, match="decode blew up"):
        engine.complete(request("Why is the sky blue?"))
    with pytest.raises(BatchedEngineError, match="closed"):
        engine.complete(request("And now?"))  # fails at once: no scheduler is left to serve it
    engine.close()


def test_missing_gguf_fails_every_call_clearly(tmp_path):
    pytest.importorskip("llama_cpp")
    engine = BatchedLlamaEngine(tmp_path / "missing.gguf", parallel=2)
    with pytest.raises(BatchedEngineError, match="does not exist"):
        engine.complete(request("Why is the sky blue?"))
    engine.close()


@pytest.mark.slow
@pytest.mark.assets
def test_concurrent_calls_decode_together_on_the_teacher():
    pytest.importorskip("llama_cpp")
    from pada.agents.lm import resolve_gguf

    gguf = resolve_gguf("qwen2_5_coder_1_5b_instruct_gguf")
    engine = BatchedLlamaEngine(gguf, n_ctx=1024, parallel=3, name="teacher")
    try:
        questions = ["Why does ice float?", "What do plants need to grow?", "Why is the sky blue?",
                     "What is friction?", "Why do we have seasons?"]  # fmt: skip
        in_flight, peak, lock = [0], [0], threading.Lock()

        def call(i: int):
            with lock:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
            try:
                return engine.complete(request(questions[i], seed=i))
            finally:
                with lock:
                    in_flight[0] -= 1

        with ThreadPoolExecutor(max_workers=5) as pool:
            outs = list(pool.map(call, range(5)))  # 5 calls on 3 slots: two wait, then join
        assert peak[0] >= 3
        assert all(o.message.text.strip() for o in outs)
        assert len({o.message.text for o in outs}) == 5
        assert all(0 < o.usage.output_tokens <= 48 and o.usage.input_tokens > 10 for o in outs)
        assert all(o.finish_reason in ("stop", "length") for o in outs)
        # The system prompt is shared: later calls take its KV cells from a slot instead of evaluating it.
        assert engine.stats["calls"] == 5 and engine.stats["reused_prompt_tokens"] > 0
        assert engine.stats["prompt_tokens"] == sum(o.usage.input_tokens for o in outs)

        short = engine.complete(request("Describe the water cycle in detail.", max_tokens=5))
        assert short.finish_reason == "length" and short.usage.output_tokens == 5

        # A prompt that invites prose: the grammar refuses the sampled first tokens and redraws them.
        # The schema bounds the title, so the object closes well inside max_tokens on any CPU (a free
        # json_object story ran past 160 tokens on one CI machine and never closed).
        title = {"title": {"type": "string", "maxLength": 40}}
        titled = {"type": "object", "properties": title, "required": ["title"]}
        as_json = engine.complete(
            request(
                "Tell a short story about a cat.",
                fmt={"type": "json_schema", "schema": titled},
                max_tokens=160,  # bounded: a 40-char title plus at most 4 short whitespace runs
            )
        )
        assert as_json.finish_reason == "stop"
        parsed = json.loads(as_json.message.text)  # the grammar makes it well-formed
        assert isinstance(parsed, dict) and isinstance(parsed["title"], str) and len(parsed["title"]) <= 40
    finally:
        engine.close()
    with pytest.raises(BatchedEngineError, match="closed"):
        engine.complete(request("Still there?"))


@pytest.mark.slow
@pytest.mark.assets
def test_a_prefix_taken_from_another_slot_keeps_its_content():
    """The fact sits in the shared system prompt only: the second slot must read it from copied cells."""
    pytest.importorskip("llama_cpp")
    from pada.agents.lm import resolve_gguf

    engine = BatchedLlamaEngine(resolve_gguf("qwen2_5_coder_1_5b_instruct_gguf"), n_ctx=512, parallel=2)
    system = "You keep a secret. The secret password is PINEAPPLE. " * 3
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            story = pool.submit(engine.complete, request("Write a long poem about the sea.", max_tokens=64,
                                                         temperature=0.0, system=system))  # fmt: skip
            while engine.stats["calls"] < 1:  # the poem holds slot 0; the question goes to slot 1
                threading.Event().wait(0.01)
            answer = engine.complete(
                request(
                    "What is the secret password? Answer with the word only.", temperature=0.0, system=system
                )
            )
            story.result()
        assert engine.stats["reused_prompt_tokens"] > 40  # the system prompt came from slot 0
        assert "PINEAPPLE" in answer.message.text.upper()
    finally:
        engine.close()


@pytest.mark.parametrize("engine_cls", ["batched", "in_process"])
def test_dspy_asks_the_in_process_engines_for_json(engine_cls, tmp_path):
    # With response_format declared, DSPy's JSON adapter requests a JSON object, which the engines
    # enforce with a grammar (as llama_cpp.server does); without it the answers were free text.
    import dspy

    from pada.agents.adapters import CompactJSONAdapter
    from pada.agents.local_engine import LlamaCppEngine

    engine = (
        BatchedLlamaEngine(tmp_path / "m.gguf")
        if engine_cls == "batched"
        else LlamaCppEngine(tmp_path / "m.gguf")
    )
    lm = dspy.LM("local/teacher", engine=engine)

    class Signature(dspy.Signature):
        question: str = dspy.InputField()
        answer: str = dspy.OutputField()

    kwargs: dict = {}
    CompactJSONAdapter()._prepare_response_format(lm, kwargs, Signature)
    assert kwargs["response_format"] == {"type": "json_object"}
