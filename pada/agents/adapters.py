"""A compact JSON adapter for small teachers: an example object instead of a JSON schema.

DSPy's :class:`~dspy.JSONAdapter` describes a typed output with its JSON schema, keys sorted
alphabetically. For a 1.5B model that is both long (a few hundred prompt tokens per call, at ~120
tokens/s) and misleading: a generated item's ``answer`` comes before its ``question``, and the model
commits to a letter before it has written the question. This adapter shows a filled-in skeleton in
declaration order instead; parsing is JSONAdapter's (``json_repair``, then pydantic).
"""

from __future__ import annotations

import json
import typing
from typing import Any

import dspy
import pydantic
from dspy.adapters.chat_adapter import FieldInfoWithName


def skeleton(annotation: Any, desc: str = "") -> Any:
    """An example value of a type, in field declaration order, with descriptions as placeholders."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set):
        args = typing.get_args(annotation) or (str,)
        inner = skeleton(args[0], desc)
        # Four strings show "a list of several" (and four options is what MC items usually have); one
        # object is enough to show an object's shape.
        return [inner] * 4 if isinstance(inner, str) else [inner]
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return {
            name: skeleton(f.annotation, f.description or "") for name, f in annotation.model_fields.items()
        }
    if annotation is bool:
        # Not a literal `true`: an all-true example nudges a small judge into approving everything.
        return f"<true or false: {desc}>" if desc else "<true or false>"
    if annotation is int:
        return 0
    if annotation is float:
        return 0.0
    return f"<{desc}>" if desc else "<text>"


class CompactJSONAdapter(dspy.JSONAdapter):
    """JSONAdapter with a short, ordered output example in place of JSON schemas in the prompt.

    Args:
        json_schema: Ask the endpoint to constrain its answer to the signature's JSON schema
            (``response_format: json_schema``; llama-server turns it into a grammar, so the answer
            always parses). ``False`` leaves the choice to DSPy (JSON mode where the provider has it).
    """

    def __init__(self, json_schema: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.json_schema = json_schema

    def _prepare_response_format(self, lm: Any, lm_kwargs: dict[str, Any], signature: Any) -> None:
        if not self.json_schema:
            super()._prepare_response_format(lm, lm_kwargs, signature)
            return
        from dspy.adapters.json_adapter import _get_structured_outputs_response_format

        # The schema's properties keep the signature's order, as the prompt's example does.
        lm_kwargs["response_format"] = _get_structured_outputs_response_format(signature)

    def format_field_structure(self, signature: type[dspy.Signature]) -> str:  # noqa: D102 - DSPy hook
        inputs = self.format_field_with_value(
            {FieldInfoWithName(name=n, info=f): f"{{{n}}}" for n, f in signature.input_fields.items()},
            role="user",
        )
        example = {
            name: skeleton(f.annotation, (f.json_schema_extra or {}).get("desc", ""))
            for name, f in signature.output_fields.items()
        }
        return (
            "Inputs will have the following structure:\n\n"
            f"{inputs}\n\n"
            "Outputs will be one JSON object like this one, with the values filled in:\n\n"
            f"{json.dumps(example, indent=1, ensure_ascii=False)}"
        )

    def user_message_output_requirements(self, signature: type[dspy.Signature]) -> str:  # noqa: D102 - DSPy hook
        keys = ", ".join(f"`{n}`" for n in signature.output_fields)
        return f"Respond with only the JSON object with keys {keys}."
