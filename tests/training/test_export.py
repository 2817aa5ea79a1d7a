import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from pada.training.evaluate import load_for_eval
from pada.training.export import merge_adapter
from pada.training.prompt import encode_prompt

from .conftest import make_items


def test_merged_export_loads_and_matches_adapter(tmp_path, trained_adapter, tiny_model_cfg):
    out = merge_adapter(tiny_model_cfg, trained_adapter, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.chat_template
    with_adapter, tok2 = load_for_eval(tiny_model_cfg, trained_adapter, device="cpu")
    ids = torch.tensor([encode_prompt(make_items(1)[0], tok2)])
    assert encode_prompt(make_items(1)[0], tok) == ids[0].tolist()
    with torch.no_grad():
        diff = (merged(input_ids=ids).logits - with_adapter(input_ids=ids).logits).abs().max().item()
    assert diff < 1e-4
