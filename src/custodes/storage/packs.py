"""Policy-pack files: a hardened YAML reader feeding the pure pack validator.

The core (:mod:`custodes.core.disclosure`) validates a pack's structure but cannot import
PyYAML; this edge turns the file's bytes into plain dicts, lists and scalars plus a map
from every path in the document to its line, and refuses anything a policy file has no
business containing:

* files over 1 MB, bytes that are not UTF-8, more than one YAML document;
* anchors and aliases (so no "billion laughs" expansion), merge keys (``<<``), and every
  explicit tag (``!!python/object``, ``!!binary``, ``!custom``...);
* nesting deeper than 32 levels, duplicate keys, keys that are not plain strings.

Parsing uses PyYAML's ``SafeLoader`` only, on the event stream first (aliases, anchors,
tags and depth are checked before anything is built, so no expansion or deep recursion
happens), then on the node graph. Every refusal is an :class:`InvalidInput` whose message
starts with ``<file>:<line>:``.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import date, datetime
from importlib import resources
from pathlib import Path

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    NodeEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from custodes.core.disclosure.pack import PolicyPack
from custodes.core.errors import InvalidInput, NotFound

MAX_PACK_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_EVENTS = 200_000

BUILTIN_PACKS = ("colorado", "california", "example-department")

PathKey = tuple[str | int, ...]


def load_pack(text: bytes, *, source_name: str) -> PolicyPack:
    """Parse and validate a pack file's bytes; the pack's hash is sha256 of ``text``.

    The same bytes under the same name give the same (immutable) pack, so a process
    parses each pack once: every command and web request reads the pack in force, and
    the hardened pure-Python parse costs a good part of a second. A refusal is not
    kept; it is raised again each time."""
    return _load_pack(bytes(text), source_name)


@functools.lru_cache(maxsize=8)
def _load_pack(text: bytes, source_name: str) -> PolicyPack:
    doc, lines = parse_document(text, source_name=source_name)
    return PolicyPack.from_document(
        doc, lines, hashlib.sha256(text).hexdigest(), source_name=source_name
    )


def load_pack_file(path: str | Path) -> PolicyPack:
    """Read a pack from disk (refusing oversized files before reading them whole)."""
    p = Path(path)
    return load_pack(read_pack_file(p), source_name=p.name)


def read_pack_file(p: Path) -> bytes:
    """A pack file's bytes (at most one more than a pack may hold, so that an oversized
    file is refused without reading it whole)."""
    try:
        with p.open("rb") as fh:
            return fh.read(MAX_PACK_BYTES + 1)
    except FileNotFoundError:
        raise NotFound(f"no policy pack at {p}") from None
    except IsADirectoryError:
        raise InvalidInput(f"{p} is a folder, not a pack file") from None
    except OSError as exc:
        raise InvalidInput(f"{p.name}: cannot read the pack: {exc.strerror}") from exc


def builtin_text(name: str) -> bytes:
    """The bytes of one of the packs shipped in ``custodes/packs/``."""
    if name not in BUILTIN_PACKS:
        raise NotFound(
            f"no built-in policy pack '{name}' (packs: {', '.join(BUILTIN_PACKS)}; "
            "name a pack file by a path ending in .yaml)"
        )
    return (resources.files("custodes") / "packs" / f"{name}.yaml").read_bytes()


def builtin_pack(name: str) -> PolicyPack:
    """One of the packs shipped in ``custodes/packs/`` (``colorado``, ``california``,
    ``example-department``)."""
    return load_pack(builtin_text(name), source_name=f"{name}.yaml")


# --------------------------------------------------------------------------- parsing


def _line_of_offset(text: bytes, offset: int) -> int:
    return text.count(b"\n", 0, offset) + 1


def _fail(source: str, line: int | None, message: str) -> InvalidInput:
    where = f"{source}:{line}" if line else source
    return InvalidInput(f"{where}: {message}")


def _mark_line(exc: yaml.YAMLError) -> int | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return None if mark is None else int(mark.line) + 1


def parse_document(text: bytes, *, source_name: str) -> tuple[object, dict[PathKey, int]]:
    """The YAML document as plain Python values, and the line of every path in it."""
    if len(text) > MAX_PACK_BYTES:
        raise InvalidInput(
            f"{source_name}: the pack is larger than {MAX_PACK_BYTES} bytes; refused"
        )
    body = text[3:] if text.startswith(b"\xef\xbb\xbf") else text
    try:
        source = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _line_of_offset(body, exc.start)
        raise _fail(
            source_name, line, f"not UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start})"
        ) from None

    try:
        _screen_events(source, source_name)
        node = yaml.compose(source, Loader=yaml.SafeLoader)
    except ReaderError as exc:
        line = source.count("\n", 0, exc.position) + 1
        raise _fail(source_name, line, f"unreadable character: {exc.reason}") from None
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or "malformed YAML"
        raise _fail(source_name, _mark_line(exc), f"malformed YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise _fail(source_name, None, f"malformed YAML: {exc}") from None
    except RecursionError:  # defensive: _screen_events bounds the depth first
        raise _fail(source_name, None, "the document is nested too deeply") from None
    if node is None:
        raise _fail(source_name, 1, "the pack is empty")
    conv = _Converter(source_name)
    value = conv.convert(node, ())
    return value, conv.lines


def _screen_events(source: str, source_name: str) -> None:
    """Refuse aliases, anchors, tags, several documents and deep nesting from the event
    stream, before any node is composed."""
    depth = 0
    documents = 0
    for count, event in enumerate(yaml.parse(source, Loader=yaml.SafeLoader)):
        mark = event.start_mark
        line = None if mark is None else int(mark.line) + 1
        if count > MAX_EVENTS:
            raise _fail(source_name, line, "the document is too large")
        if isinstance(event, DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _fail(source_name, line, "a pack file holds exactly one YAML document")
        if isinstance(event, AliasEvent):
            raise _fail(source_name, line, f"aliases are not allowed (*{event.anchor})")
        if isinstance(event, NodeEvent) and event.anchor is not None:
            raise _fail(source_name, line, f"anchors are not allowed (&{event.anchor})")
        tag = getattr(event, "tag", None)
        if tag is not None and isinstance(event, NodeEvent):
            raise _fail(source_name, line, f"tags are not allowed ({tag})")
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _fail(source_name, line, f"nesting deeper than {MAX_DEPTH} levels")
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def _scalar(node: ScalarNode, loader: yaml.SafeLoader, source_name: str) -> object:
    line = int(node.start_mark.line) + 1
    if node.tag == "tag:yaml.org,2002:merge":
        raise _fail(source_name, line, "merge keys (<<) are not allowed")
    try:
        # SafeConstructor, on a scalar node whose tag the SafeLoader resolved itself.
        value = loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise _fail(source_name, line, f"bad value: {getattr(exc, 'problem', exc)}") from None
    if isinstance(value, datetime):
        raise _fail(source_name, line, "a date with a time of day; write YYYY-MM-DD")
    if not isinstance(value, str | int | float | bool | date) and value is not None:
        raise _fail(source_name, line, f"unsupported value of type {type(value).__name__}")
    return value


class _Converter:
    def __init__(self, source_name: str) -> None:
        self.source_name = source_name
        self.lines: dict[PathKey, int] = {}
        self.loader = yaml.SafeLoader("")

    def convert(self, node: Node, path: PathKey) -> object:
        return _to_python(self, node, path)


def _to_python(conv: _Converter, node: Node, path: PathKey) -> object:
    source_name, lines = conv.source_name, conv.lines
    lines.setdefault(path, int(node.start_mark.line) + 1)
    if isinstance(node, ScalarNode):
        return _scalar(node, conv.loader, source_name)
    if isinstance(node, SequenceNode):
        return [_to_python(conv, item, (*path, i)) for i, item in enumerate(node.value)]
    if isinstance(node, MappingNode):
        out: dict[str, object] = {}
        for key_node, value_node in node.value:
            key_line = int(key_node.start_mark.line) + 1
            if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                raise _fail(source_name, key_line, "keys must be plain strings")
            # The raw text, so that `on:` or `yes:` stay strings (YAML 1.1 reads them as
            # booleans) and an unknown key is reported as written.
            key = str(key_node.value)
            if key in out:
                raise _fail(source_name, key_line, f"duplicate key '{key}'")
            lines[(*path, key)] = key_line
            out[key] = _to_python(conv, value_node, (*path, key))
        return out
    raise _fail(source_name, int(node.start_mark.line) + 1, "unsupported YAML node")


class PackReader:
    """The :class:`~custodes.core.ports.PolicySource` of this edge: built-in packs by
    name, pack files by path, and kept bytes, through the hardened reader above."""

    def read(self, choice: str) -> tuple[bytes, str]:
        name = choice.strip()
        if "/" in name or name.endswith((".yaml", ".yml")):
            p = Path(name)
            return read_pack_file(p), p.name
        return builtin_text(name), f"{name}.yaml"

    def parse(self, text: bytes, *, source_name: str) -> PolicyPack:
        return load_pack(text, source_name=source_name)
