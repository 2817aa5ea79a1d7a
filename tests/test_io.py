"""pada's files: atomic JSON / JSONL writes, and records that serialize by their type hints."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from pada.io import JsonRecord, atomic_write_text, read_json, read_jsonl, write_json, write_jsonl


@dataclass
class Part(JsonRecord):
    name: str
    weight: float


@dataclass
class Whole(JsonRecord):
    id: int
    parts: list[Part]
    tags: dict[str, float] = field(default_factory=dict)
    note: str | None = None


def test_a_nested_record_round_trips_through_json(tmp_path: Path) -> None:
    whole = Whole(3, [Part("a", 0.5), Part("b", math.nan)], {"x": 1.0})
    d = whole.to_dict()
    assert d["parts"][0] == {"name": "a", "weight": 0.5} and math.isnan(d["parts"][1]["weight"])
    write_json(tmp_path / "w.json", d)
    back = Whole.from_dict(read_json(tmp_path / "w.json"))
    assert back.id == 3 and back.parts[0] == Part("a", 0.5) and math.isnan(back.parts[1].weight)


def test_reading_checks_and_coerces_types() -> None:
    assert Whole.from_dict({"id": "7", "parts": []}).id == 7  # as JSON from elsewhere may have it
    try:
        Whole.from_dict({"id": "seven", "parts": []})
    except ValueError as err:
        assert "id" in str(err)
    else:
        raise AssertionError("a non-integer id was accepted")


def test_writes_are_atomic_and_lines_round_trip(tmp_path: Path) -> None:
    path = atomic_write_text(tmp_path / "deep" / "f.txt", "über\n")
    assert path.read_text(encoding="utf-8") == "über\n"
    assert [p.name for p in path.parent.iterdir()] == ["f.txt"]  # no temporary file left behind
    write_jsonl(tmp_path / "r.jsonl", [{"q": "é"}, {"q": 2}])
    (tmp_path / "r.jsonl").write_text((tmp_path / "r.jsonl").read_text() + "\n\n")
    assert read_jsonl(tmp_path / "r.jsonl") == [{"q": "é"}, {"q": 2}]
    assert '"é"' in (tmp_path / "r.jsonl").read_text(encoding="utf-8")  # kept readable, not escaped
