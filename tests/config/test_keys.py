"""The typed schema, the shipped config files and the code agree on which keys exist.

A key the code reads must be declared in the schema (with its default), and a declared key must be
read somewhere; each group's default option file lists every key of its group with a comment. These
tests read the code's syntax tree, so the three cannot drift apart silently again.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from pada.config import schema
from pada.config.schema import GROUP_SCHEMAS, PadaConfig
from pada.teacher import providers
from tests.conftest import CONF, REPO

PACKAGE = REPO / "pada"
SCHEMAS = {cls.__name__: cls for cls in vars(schema).values() if dataclasses.is_dataclass(cls)}
# The teacher providers are LMConfig with behaviour: their fields are its keys.
SCHEMAS |= {
    name: schema.LMConfig
    for name, cls in vars(providers).items()
    if isinstance(cls, type) and issubclass(cls, schema.LMConfig)
}
#: Functions that return a config node of a schema (as ``typed(Schema, ...)`` does).
BUILDERS = {"build_provider": schema.LMConfig}


def fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def sources() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text())) for p in sorted(PACKAGE.rglob("*.py"))]


def annotation_schema(node: ast.expr | None) -> type | None:
    """The schema class an annotation names (``TrainerConfig``, ``TrainerConfig | None``...)."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a string annotation
        return annotation_schema(ast.parse(node.value, mode="eval").body)
    if isinstance(node, ast.Name):
        return SCHEMAS.get(node.id)
    if isinstance(node, ast.BinOp):
        return annotation_schema(node.left) or annotation_schema(node.right)
    return None


def typed_call_schema(node: ast.expr) -> type | None:
    """The schema of ``typed(Schema, ...)`` or of a call to one of :data:`BUILDERS`."""
    if not isinstance(node, ast.Call):
        return None
    if getattr(node.func, "id", None) == "typed" and node.args:
        return SCHEMAS.get(getattr(node.args[0], "id", ""))
    return BUILDERS.get(getattr(node.func, "id", ""))


def dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def config_reads() -> list[tuple[str, int, type, str]]:
    """Every ``<config>.<key>`` read in pada whose config's schema the code makes known.

    A config's schema is known when it is a parameter annotated with a schema class, a name (or
    ``self.<name>``) bound to ``typed(Schema, ...)``, or a group of the root config
    (``cfg.<group>``, ``self.cfg.<group>``).
    """
    reads = []
    for path, tree in sources():
        where = str(path.relative_to(REPO))
        for scope in ast.walk(tree):
            if not isinstance(scope, ast.FunctionDef | ast.ClassDef):
                continue
            bound: dict[str, type] = {}
            if isinstance(scope, ast.ClassDef):  # a schema's subclass reads its keys as self.<key>
                for base in scope.bases:
                    if s := annotation_schema(base):
                        bound["self"] = s
            if isinstance(scope, ast.FunctionDef):
                args = [*scope.args.posonlyargs, *scope.args.args, *scope.args.kwonlyargs]
                bound.update({a.arg: s for a in args if (s := annotation_schema(a.annotation))})
            for node in ast.walk(scope):
                if isinstance(node, ast.Assign) and (s := typed_call_schema(node.value)):
                    bound.update({name: s for t in node.targets if (name := dotted(t))})
            for node in ast.walk(scope):
                if not isinstance(node, ast.Attribute) or not isinstance(node.ctx, ast.Load):
                    continue
                owner = dotted(node.value)
                if owner is None:
                    continue
                if owner in bound:
                    reads.append((where, node.lineno, bound[owner], node.attr))
                head, _, group = owner.rpartition(".")
                if head in ("cfg", "self.cfg") and group in GROUP_SCHEMAS and "cfg" not in bound:
                    reads.append((where, node.lineno, GROUP_SCHEMAS[group], node.attr))
    return reads


def test_the_checker_sees_the_config_reads() -> None:
    reads = config_reads()
    assert len(reads) > 100
    seen = {(cls.__name__, key) for _, _, cls, key in reads}
    assert {("TrainerConfig", "lr"), ("LMConfig", "max_attempts"), ("GenerationConfig", "budget")} <= seen


def test_the_code_reads_only_declared_keys() -> None:
    methods = {"get", "items", "keys", "values"}
    # A provider's methods and class attributes (name, seeded...) are its code, not config keys.
    provider_members = {n for n in dir(providers.Provider) if not n.startswith("__")}
    undeclared = [
        f"{where}:{line}: {cls.__name__}.{key}"
        for where, line, cls, key in config_reads()
        if key not in fields(cls)
        and key not in methods
        and not (cls is schema.LMConfig and key in provider_members)
    ]
    assert not undeclared, "read but not declared in pada/config/schema.py:\n" + "\n".join(undeclared)


def test_every_declared_key_is_read() -> None:
    """A schema key that no code reads is a setting that does nothing."""
    names: set[str] = set()
    for path, tree in sources():
        if path.parent.name == "config":
            continue  # the schema declares and validate checks; neither reads a setting for its effect
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)
    unread = [
        f"{cls.__name__}.{key}"
        for cls in {*GROUP_SCHEMAS.values(), PadaConfig, schema.LoraConfig}
        for key in sorted(fields(cls))
        if key not in names and not key.startswith("_")  # _target_ and co. are read by Hydra
    ]
    assert not unread, "declared but never read: " + ", ".join(sorted(unread))


def test_validate_names_only_declared_keys() -> None:
    text = (PACKAGE / "config" / "validate.py").read_text()
    named = set(re.findall(rf'"((?:{"|".join(GROUP_SCHEMAS)})\.[a-z_]+)"', text))
    assert named, "validate.py names its keys as group.key"
    unknown = [k for k in sorted(named) if k.split(".")[1] not in fields(GROUP_SCHEMAS[k.split(".")[0]])]
    assert not unknown


def default_options() -> dict[str, str]:
    """Each group's default option, from the root config's defaults list."""
    root = yaml.safe_load((CONF / "config.yaml").read_text())
    return {k: v for entry in root["defaults"] if isinstance(entry, dict) for k, v in entry.items() if v}


@pytest.mark.parametrize("group", sorted(GROUP_SCHEMAS))
def test_each_default_option_file_lists_every_key_with_a_comment(group: str) -> None:
    option = default_options()[group]
    path = CONF / group / f"{option}.yaml"
    lines = path.read_text().splitlines()
    cls = GROUP_SCHEMAS[group]
    wanted = [(key, "") for key in sorted(fields(cls))]
    if group == "model":
        wanted += [(key, "  ") for key in sorted(fields(schema.LoraConfig))]
    missing, bare = [], []
    for key, indent in wanted:
        at = [i for i, line in enumerate(lines) if re.match(rf"{indent}{key}:", line)]
        if not at:
            missing.append(key)
            continue
        i = at[0]
        commented = "#" in lines[i] or (i > 0 and lines[i - 1].lstrip().startswith("#"))
        if not commented and group != "judge":  # the judge's keys all say `${teacher.<key>}`
            bare.append(key)
    assert not missing, f"{path.relative_to(REPO)} does not list: {', '.join(missing)}"
    assert not bare, f"{path.relative_to(REPO)}: no comment for {', '.join(bare)}"
