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
