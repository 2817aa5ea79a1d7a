"""The teacher runtime: how pada reaches any teacher or judge LLM, and what each call costs.

- :mod:`pada.teacher.server`: llama.cpp's ``llama-server`` for the embedded teacher (start, watch,
  restart, stop);
- :mod:`pada.teacher.providers`: one class per kind of endpoint (``teacher._target_``): where it is,
  its key, what it supports;
- :mod:`pada.teacher.lm`: the ``dspy.LM`` of each provider, all through one OpenAI-compatible path;
- :mod:`pada.teacher.runner`: one agent call with bounded retries, fresh rollouts and counted failures;
- :mod:`pada.teacher.usage`: calls, tokens, cache hits and wall time per agent, and the budgets;
- :mod:`pada.teacher.scoring`: option probabilities from token log-probabilities (the judge's solve).

Nothing here knows about the agents' prompts; :mod:`pada.agents` builds on it.
"""
