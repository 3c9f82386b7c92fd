"""custodes.storage.packs: reading pack files, and refusing bad or hostile ones.

Every refusal is an InvalidInput whose message names the file and, where there is one,
the line: ``<file>:<line>: ...``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from importlib import resources
from pathlib import Path

import pytest

from custodes.core.authz import CaseStatus
from custodes.core.disclosure import Facts, decide
from custodes.core.errors import InvalidInput, NotFound
from custodes.storage.packs import (
    BUILTIN_PACKS,
    MAX_PACK_BYTES,
    builtin_pack,
    load_pack,
    load_pack_file,
    parse_document,
)

HEADER = """\
# a test pack
custodes_pack: 1
name: test
version: "1"
jurisdiction: Nowhere
effective_from: 2025-01-01
expires: 2030-01-01
disclaimer: A model for review by counsel, not legal advice.
deadline:
  respond_within: {days: 3, count: working, citation: "Sec. 1"}
"""

RULE = """\
  - id: r1
    priority: 10
    citation: "Sec. 2"
    when: 'case_status == "open"'
    outcome: hold
    hold: {event: adjudication}
    reason: Held.
"""

DEFAULT = """\
default:
  outcome: release
  citation: "Sec. 3"
  reason: Released.
"""


def pack_text(rules: str = RULE, header: str = HEADER, default: str = DEFAULT) -> str:
    return f"{header}rules:\n{rules}{default}"


def line_of(text: str, marker: str) -> int:
    """1-based line of the first line containing ``marker``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in the text")


def refused(text: str | bytes, name: str = "test.yaml") -> str:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(InvalidInput) as info:
        load_pack(data, source_name=name)
    message = str(info.value)
    assert message.startswith(f"{name}"), message
    assert "\n" not in message
    return message


def assert_line(message: str, line: int, name: str = "test.yaml") -> None:
    assert message.startswith(f"{name}:{line}: "), message


# --------------------------------------------------------------------------- good packs


@pytest.mark.parametrize("name", BUILTIN_PACKS)
def test_builtin_packs_load(name: str) -> None:
    raw = (resources.files("custodes") / "packs" / f"{name}.yaml").read_bytes()
    pack = builtin_pack(name)
    assert pack.sha256 == hashlib.sha256(raw).hexdigest()
    assert pack.source_name == f"{name}.yaml"
    assert "not legal advice" in pack.disclaimer.lower()
    # Each file opens with a comment block saying the same.
    text = raw.decode()
    assert text.startswith("# custodes policy pack")
    head = text.split("\ncustodes_pack:")[0]
    assert "NOT LEGAL ADVICE" in head
    assert pack.rules and all(r.citation for r in pack.rules)


def test_minimal_pack_loads_and_decides(tmp_path: Path) -> None:
    text = pack_text()
    path = tmp_path / "mini.yaml"
    path.write_text(text)
    pack = load_pack_file(path)
    assert pack.rules[0].line == line_of(text, "- id: r1")
    day = date(2026, 3, 2)
    facts = Facts(case_status=CaseStatus.OPEN, requester_kind="press", received_at=day, today=day)
    assert decide(pack, facts).outcome == "hold"


def test_a_pack_is_parsed_once_per_process_and_a_refusal_every_time() -> None:
    """load_pack keeps what it parsed (by bytes and name): the same pack comes back, a
    different name or different bytes are parsed afresh, and a refusal is never kept."""
    text = pack_text().encode()
    first = load_pack(text, source_name="a.yaml")
    assert load_pack(text, source_name="a.yaml") is first
    other = load_pack(text, source_name="b.yaml")
    assert other is not first and other.source_name == "b.yaml"
    changed = load_pack(text.replace(b'version: "1"', b'version: "2"'), source_name="a.yaml")
    assert changed.version == "2" and changed.sha256 != first.sha256
    bad = text + b"\nname: again\n"
    for _ in range(2):
        with pytest.raises(InvalidInput, match="duplicate key 'name'"):
            load_pack(bad, source_name="a.yaml")


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_pack_file(tmp_path / "nope.yaml")
    with pytest.raises(NotFound):
        builtin_pack("atlantis")


def test_lines_are_recorded_for_every_path() -> None:
    text = pack_text()
    _, lines = parse_document(text.encode(), source_name="t.yaml")
    assert lines[("rules", 0)] == line_of(text, "- id: r1")
    assert lines[("rules", 0, "when")] == line_of(text, "when:")
    assert lines[("deadline", "respond_within", "days")] == line_of(text, "respond_within")


def test_yaml_11_booleans_as_keys_stay_strings() -> None:
    doc, _ = parse_document(b"on: 1\nyes: 2\n", source_name="t.yaml")
    assert doc == {"on": 1, "yes": 2}


# --------------------------------------------------------------------------- malformed


def test_malformed_yaml_names_the_line() -> None:
    text = pack_text(rules=RULE + "  - id: [unclosed\n")
    message = refused(text)
    assert "malformed YAML" in message
    assert re.match(r"test\.yaml:\d+: ", message)


def test_empty_and_scalar_documents() -> None:
    assert "empty" in refused("")
    assert "empty" in refused("# only a comment\n")
    message = refused("just a string\n")
    assert "the pack must be a mapping" in message


def test_unknown_top_level_key_suggests_the_right_one() -> None:
    text = pack_text() + "rulez: []\n"
    message = refused(text)
    assert_line(message, line_of(text, "rulez"))
    assert "unknown key 'rulez' in the pack (did you mean 'rules'?)" in message


def test_unknown_rule_key() -> None:
    text = pack_text(rules=RULE.replace("priority:", "priorty:"))
    message = refused(text)
    assert_line(message, line_of(text, "priorty"))
    assert "rule 'r1': unknown key 'priorty' in a rule (did you mean 'priority'?)" in message


def test_unknown_fact_names_rule_and_line() -> None:
    text = pack_text(rules=RULE.replace("case_status ==", "case_stat =="))
    message = refused(text, "colorado.yaml")
    assert_line(message, line_of(text, "case_stat =="), "colorado.yaml")
    assert "rule 'r1': unknown fact 'case_stat' (did you mean 'case_status'?)" in message


def test_condition_error_in_a_folded_block_names_the_key_line() -> None:
    rules = RULE.replace(
        "    when: 'case_status == \"open\"'\n",
        "    when: >-\n      misconduct_complaint\n      and days_since_request = 3\n",
    )
    text = pack_text(rules=rules)
    message = refused(text)
    assert_line(message, line_of(text, "when: >-"))
    assert "unexpected character '=': use '==' to compare (column 45)" in message


@pytest.mark.parametrize(
    ("old", "new", "marker", "expected"),
    [
        ("priority: 10", "priority: high", "priority:", "priority must be an integer"),
        ("priority: 10", "priority: true", "priority:", "priority must be an integer"),
        ("priority: 10", "priority: 5000", "priority:", "between 0 and 1000"),
        ("outcome: hold", "outcome: maybe", "outcome:", "outcome must be one of"),
        ("event: adjudication", "event: sunrise", "event:", "hold event must be one of"),
        ("id: r1", "id: R 1", "id:", "an id is lower-case"),
        ('citation: "Sec. 2"', "citation: ''", "citation: ''", "non-empty string"),
        ("when: 'case_status == \"open\"'", "when: true", "when:", "quoted condition"),
        ("when: 'case_status == \"open\"'", "when: [a]", "when:", "condition string"),
        ("    hold: {event: adjudication}\n", "", "- id: r1", "needs a 'hold' mapping"),
        ("hold: {event: adjudication}", "hold: {}", "hold:", "a hold needs an 'event'"),
        ("hold: {event: adjudication}", "hold: {days: 3}", "hold:", "go together"),
    ],
)
def test_rule_type_errors(old: str, new: str, marker: str, expected: str) -> None:
    rules = RULE.replace(old, new)
    assert rules != RULE
    text = pack_text(rules=rules)
    message = refused(text)
    assert expected in message
    assert_line(message, line_of(text, marker))


@pytest.mark.parametrize(
    ("old", "new", "marker", "expected"),
    [
        ('version: "1"', "version: 1.0", "version:", "version must be a quoted string"),
        ("expires: 2030-01-01", "expires: soon", "expires:", "must be a date"),
        ("expires: 2030-01-01", "expires: 2024-01-01", "expires:", "is not after"),
        (
            "expires: 2030-01-01",
            "expires: 2030-01-01 10:00:00",
            "expires:",
            "a date with a time of day",
        ),
        ("custodes_pack: 1", "custodes_pack: 2", "custodes_pack", "unsupported pack format"),
        ("not legal advice", "legal advice", "disclaimer", "not legal advice"),
        ("count: working", "count: fortnightly", "respond_within", "count must be one of"),
    ],
)
def test_pack_type_errors(old: str, new: str, marker: str, expected: str) -> None:
    header = HEADER.replace(old, new)
    assert header != HEADER
    text = pack_text(header=header)
    message = refused(text)
    assert expected in message
    assert_line(message, line_of(text, marker))


def test_missing_default_and_missing_disclaimer() -> None:
    assert "the pack is missing 'default'" in refused(pack_text(default=""))
    header = "\n".join(line for line in HEADER.splitlines() if "disclaimer" not in line)
    assert "the pack is missing 'disclaimer'" in refused(pack_text(header=header + "\n"))


def test_default_needs_an_outcome() -> None:
    message = refused(pack_text(default=DEFAULT.replace("  outcome: release\n", "")))
    assert "the default is missing 'outcome'" in message


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("[blur]", "a redaction must be one of"),
        ("[cut]", "'cut' needs ranges"),
        ("[{kind: faces, ranges: all}]", "'faces' takes no ranges"),
        ("[{kind: cut, ranges: all}]", "ranges must be one of requested_ranges"),
        ("[{kind: audio, ranges: everything}]", "ranges must be one of"),
        ("faces", "'redact' must be a list"),
    ],
)
def test_bad_redactions(item: str, expected: str) -> None:
    rules = RULE.replace("    outcome: hold\n    hold: {event: adjudication}\n", "")
    rules += f"    redact: {item}\n"
    assert expected in refused(pack_text(rules=rules))


def test_rule_without_effect() -> None:
    rules = RULE.replace("    outcome: hold\n    hold: {event: adjudication}\n", "")
    assert "needs an 'outcome', a 'redact' list, or both" in refused(pack_text(rules=rules))


# --------------------------------------------------------------------------- contradictions


def test_duplicate_rule_ids_name_both_lines() -> None:
    text = pack_text(rules=RULE + RULE.replace("priority: 10", "priority: 20"))
    message = refused(text)
    lines = [n for n, line in enumerate(text.splitlines(), 1) if "- id: r1" in line]
    assert_line(message, lines[1] + 0)
    assert f"duplicate rule id (first at line {lines[0]})" in message


def test_default_is_a_reserved_id() -> None:
    assert "duplicate rule id" in refused(pack_text(rules=RULE.replace("id: r1", "id: default")))


def test_duplicate_keys_are_refused() -> None:
    text = pack_text(
        rules=RULE.replace("    reason: Held.\n", "    reason: Held.\n    reason: x\n")
    )
    message = refused(text)
    assert "duplicate key 'reason'" in message
    assert_line(message, line_of(text, "reason: x"))


def test_equal_priority_contradictory_overlapping_rules_are_refused() -> None:
    other = (
        RULE.replace("id: r1", "id: r2")
        .replace("'case_status == \"open\"'", "'\"minor\" in evidence_flags'")
        .replace("outcome: hold\n    hold: {event: adjudication}", "outcome: deny")
    )
    text = pack_text(rules=RULE + other)
    message = refused(text)
    assert_line(message, line_of(text, "- id: r2"))
    assert "rule 'r2' (deny) and rule 'r1'" in message
    assert "equal priority 10" in message
    assert "case_status=open, evidence_flags=[minor]" in message


def test_equal_priority_contradictory_but_disjoint_rules_are_accepted() -> None:
    other = (
        RULE.replace("id: r1", "id: r2")
        .replace('"open"', '"closed"')
        .replace("outcome: hold\n    hold: {event: adjudication}", "outcome: deny")
    )
    pack = load_pack(pack_text(rules=RULE + other).encode(), source_name="t.yaml")
    assert [r.id for r in pack.rules] == ["r1", "r2"]


def test_overlap_check_sees_derived_facts() -> None:
    # prosecution_pending is derived from case_status, so these can never both hold.
    other = (
        RULE.replace("id: r1", "id: r2")
        .replace("'case_status == \"open\"'", "prosecution_pending")
        .replace("outcome: hold\n    hold: {event: adjudication}", "outcome: deny")
    )
    load_pack(pack_text(rules=RULE + other).encode(), source_name="t.yaml")
    # ... but these can.
    clash = other.replace("prosecution_pending", "days_since_request > 5")
    assert "can both fire" in refused(pack_text(rules=RULE + clash))


def test_different_priorities_or_equal_outcomes_do_not_conflict() -> None:
    deny = RULE.replace("id: r1", "id: r2").replace(
        "outcome: hold\n    hold: {event: adjudication}", "outcome: deny"
    )
    higher = deny.replace("priority: 10", "priority: 11")
    load_pack(pack_text(rules=RULE + higher).encode(), source_name="t.yaml")
    same = RULE.replace("id: r1", "id: r2").replace("adjudication", "ia-closed")
    load_pack(pack_text(rules=RULE + same).encode(), source_name="t.yaml")


# --------------------------------------------------------------------------- hostile input


def test_billion_laughs_is_refused_at_the_first_anchor() -> None:
    lol = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lol.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    text = "\n".join(lol) + "\n"
    message = refused(text)
    assert_line(message, 1)
    assert "anchors are not allowed (&a)" in message


def test_aliases_and_merge_keys_are_refused() -> None:
    text = pack_text() + "x: *nothing\n"
    message = refused(text)
    assert "alias" in message or "malformed" in message
    text = HEADER + "base: &b {a: 1}\nother:\n  <<: *b\n"
    assert "anchors are not allowed" in refused(text)


@pytest.mark.parametrize(
    "payload",
    [
        'name: !!python/object/apply:os.system ["echo pwned"]',
        "name: !!python/object:collections.OrderedDict {}",
        "name: !!python/name:os.system ''",
        "name: !!binary aGVsbG8=",
        "name: !!str test",
        "name: !custom thing",
        "rules: !!set {a, b}",
    ],
)
def test_tags_are_refused(payload: str) -> None:
    text = HEADER.replace("name: test", payload) + "rules: []\n" + DEFAULT
    message = refused(text)
    assert_line(message, line_of(text, payload.split(":")[0] + ":"))
    assert "tags are not allowed" in message


@pytest.mark.parametrize("depth", [33, 200, 100_000])
def test_deep_nesting_is_refused(depth: int) -> None:
    text = "rules: " + "[" * depth + "]" * depth + "\n"
    message = refused(text)
    assert "nesting deeper than 32" in message or "too large" in message
    assert_line(message, 1)


def test_block_nesting_is_refused() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "v\n"
    message = refused(text)
    assert "nesting deeper than 32" in message


def test_ten_megabyte_file_is_refused_before_parsing() -> None:
    text = b"# " + b"x" * (10 * 1024 * 1024) + b"\n"
    message = refused(text)
    assert f"larger than {MAX_PACK_BYTES} bytes" in message


def test_oversized_file_on_disk_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_PACK_BYTES + 10))
    with pytest.raises(InvalidInput, match="larger than"):
        load_pack_file(path)


def test_non_utf8_names_the_line() -> None:
    text = b"custodes_pack: 1\nname: test\njurisdiction: Caf\xe9\n"
    message = refused(text)
    assert_line(message, 3)
    assert "not UTF-8 (byte 0xe9" in message


def test_control_characters_are_refused() -> None:
    message = refused("custodes_pack: 1\nname: te\x00st\n")
    assert_line(message, 2)
    assert "unreadable character" in message


def test_several_documents_are_refused() -> None:
    text = pack_text() + "---\nname: other\n"
    message = refused(text)
    assert "exactly one YAML document" in message
    assert_line(message, line_of(text, "---"))


def test_many_keys_are_fine_but_bounded() -> None:
    # A wide document is legal YAML; it is refused for its unknown keys, not for size.
    text = pack_text() + "".join(f"k{i}: {i}\n" for i in range(2000))
    assert "unknown key 'k0'" in refused(text)


def test_utf8_bom_is_accepted() -> None:
    data = b"\xef\xbb\xbf" + pack_text().encode()
    pack = load_pack(data, source_name="bom.yaml")
    assert pack.sha256 == hashlib.sha256(data).hexdigest()
