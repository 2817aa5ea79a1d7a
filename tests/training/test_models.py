import torch

from pada.training.models import build_tiny_random, load_base, resolve_dtype


def test_tiny_random_is_deterministic_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    m1, tok1 = build_tiny_random()
    after = torch.rand(1)
    m2, tok2 = build_tiny_random()
    assert torch.equal(expected, after)
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert tok1.get_vocab() == tok2.get_vocab()
    assert m1.config.hidden_size == 32 and m1.config.num_hidden_layers == 2
    assert 256 < len(tok1) < 1000
    assert tok1.chat_template


def test_load_base_tiny_sets_pad_and_eval_mode(tiny_model_cfg):
    model, tok = load_base(tiny_model_cfg, accelerator="cpu")
    assert not model.training
    assert tok.pad_token_id is not None and model.config.pad_token_id == tok.pad_token_id
    assert next(model.parameters()).dtype == torch.float32


def test_dtype_policy():
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    assert resolve_dtype("float32", "gpu") == torch.float32
