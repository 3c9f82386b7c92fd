"""Tests of custodes.core.jsontext: strict JSON from outside."""

from __future__ import annotations

import pytest

from custodes.core import jsontext
from custodes.core.errors import InvalidInput


def test_parses_plain_json() -> None:
    assert jsontext.loads(b'{"a": [1, 2.5, "x", null]}', "doc", max_bytes=100) == {
        "a": [1, 2.5, "x", None]
    }


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"a": {"b": ' * 50_000 + "1" + "}}" * 50_000, "nested too deeply"),
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ('{"a": NaN}', "NaN is not a number"),
        ("[Infinity]", "Infinity is not a number"),
        ("{not json", "Expecting property name"),
        (b"\xff\xfe\x00", "not valid JSON"),
        ("", "Expecting value"),
    ],
)
def test_malformed_json_is_one_invalid_input(text: str | bytes, reason: str) -> None:
    with pytest.raises(InvalidInput, match=r"^doc: not valid JSON") as info:
        jsontext.loads(text, "doc", max_bytes=10_000_000)
    assert reason in str(info.value)


def test_size_limit() -> None:
    with pytest.raises(InvalidInput, match="doc: larger than 10 bytes"):
        jsontext.loads("[" + "1," * 10 + "1]", "doc", max_bytes=10)


def test_jsonable_turns_typed_results_into_plain_json() -> None:
    import dataclasses
    from pathlib import Path

    from custodes.core.authz import CaseFlag, CaseStatus
    from custodes.core.jsontext import jsonable

    @dataclasses.dataclass(frozen=True)
    class Inner:
        path: Path
        flags: frozenset[CaseFlag]

    @dataclasses.dataclass(frozen=True)
    class Result:
        case: str
        status: CaseStatus
        inner: Inner
        items: tuple[int, ...]
        _private: str = "hidden"

    value = Result("C-1", CaseStatus.OPEN, Inner(Path("/a/b"), frozenset(CaseFlag)), (1, 2))
    assert jsonable(value) == {
        "case": "C-1",
        "status": "open",
        "inner": {"path": "/a/b", "flags": sorted(f.value for f in CaseFlag)},
        "items": [1, 2],
    }
