"""Convert a GGUF checkpoint once into a plain transformers folder (fp32 safetensors + tokenizer).

Loading a GGUF in transformers de-quantizes every tensor (about 14-25 s for SmolLM2-135M); the saved
folder reloads in under 3 s, so the store converts once and caches the folder.

The store runs the conversion in a child process (``python -m pada.assets.convert GGUF OUT``): the
hub is switched off there before transformers is imported, the 0.5-2.5 GB of fp32 weights are
released when it exits, and commands that only list or verify assets never import torch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pada.assets.errors import AssetError

_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

#: Largest absolute logit difference accepted between the GGUF model and the reloaded folder.
LOGIT_TOLERANCE = 1e-3


def convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """Load a GGUF file with transformers and save it as a standard fp32 model folder.

    The saved folder is then reloaded and checked: same logits on a short prompt, and the chat
    template kept when the GGUF has one.

    Args:
        gguf_path: the ``.gguf`` file.
        out_dir: the folder to write (created).

    Raises:
        AssetError: when the reloaded folder does not reproduce the GGUF model.
    """
    for key, value in _OFFLINE_ENV.items():
        os.environ[key] = value
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # transformers 5 refuses save_pretrained on a model that still carries its GGUF quantizer,
    # although the weights are already plain fp32 tensors.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # The GGUF tokenizer comes without a length limit; the model's context is the useful one.
    max_positions = getattr(model.config, "max_position_embeddings", None)
    if max_positions:
        tokenizer.model_max_length = int(max_positions)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    ids = tokenizer("The sky is blue because", return_tensors="pt").input_ids
    with torch.no_grad():
        expected = model(ids).logits
    del model  # the 0.5B model is 2.5 GB in fp32: do not hold two copies

    reloaded = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32)
    reloaded_tok = AutoTokenizer.from_pretrained(out_dir)
    if reloaded_tok("The sky is blue because", return_tensors="pt").input_ids.tolist() != ids.tolist():
        raise AssetError(f"converted tokenizer in {out_dir} encodes text differently from {gguf_path.name}.")
    with torch.no_grad():
        diff = (expected - reloaded(ids).logits).abs().max().item()
    if not diff <= LOGIT_TOLERANCE:
        raise AssetError(
            f"converted model in {out_dir} differs from {gguf_path.name} (max logit diff {diff})."
        )
    if tokenizer.chat_template and not reloaded_tok.chat_template:
        raise AssetError(f"converted tokenizer in {out_dir} lost the chat template of {gguf_path.name}.")


def convert_in_subprocess(gguf_path: Path, out_dir: Path) -> None:
    """Run :func:`convert_gguf` in a child Python process (the store's default converter).

    Args:
        gguf_path: the ``.gguf`` file.
        out_dir: the folder to write.

    Raises:
        AssetError: when the child fails; the message ends with the tail of its output.
    """
    env = {**os.environ, **_OFFLINE_ENV}
    cmd = [sys.executable, "-m", "pada.assets.convert", str(gguf_path), str(out_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        # transformers prints progress bars with carriage returns; keep only the last real lines.
        lines = [ln.split("\r")[-1].strip() for ln in (proc.stderr + proc.stdout).splitlines()]
        tail = " | ".join([ln for ln in lines if ln][-5:])
        raise AssetError(
            f"converting {gguf_path.name} to a transformers folder failed (exit {proc.returncode}): {tail}"
        )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m pada.assets.convert GGUF OUT``.

    Args:
        argv: the two paths; defaults to ``sys.argv[1:]``.

    Returns:
        The process exit code.
    """
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m pada.assets.convert GGUF_FILE OUT_DIR", file=sys.stderr)
        return 2
    try:
        convert_gguf(Path(args[0]), Path(args[1]))
    except AssetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
