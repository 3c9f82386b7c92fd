"""The condition language of policy packs: tokenizer, parser, type checker, evaluator.

Conditions are written in a small expression language parsed here by a recursive-descent
parser (no ``eval``): comparisons, ``in``/``not in``, ``and``/``or``/``not``,
parentheses, literals and fact names. Every fact name, operator, literal type and enum
value is checked when the condition is parsed (:meth:`Condition.parse`), against
``FACT_TYPES``. The grammar is documented in ``docs/disclosure.md``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from custodes.core.disclosure.facts import FACT_TYPES
from custodes.core.disclosure.vocabulary import (
    MAX_CONDITION_CHARS,
    MAX_CONDITION_DEPTH,
    FactValue,
)


class ConditionError(ValueError):
    """A condition does not parse or does not type-check (column is 1-based)."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class _Lit:
    value: bool | int | str | None


@dataclass(frozen=True)
class _List:
    values: tuple[int | str, ...]


@dataclass(frozen=True)
class _Fact:
    name: str


@dataclass(frozen=True)
class _Not:
    operand: _Node


@dataclass(frozen=True)
class _BoolOp:
    op: Literal["and", "or"]
    operands: tuple[_Node, ...]


@dataclass(frozen=True)
class _Compare:
    op: str
    left: _Node
    right: _Node


_Node: TypeAlias = _Lit | _List | _Fact | _Not | _BoolOp | _Compare

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<num>-?[0-9]+)
  | (?P<str>"[^"\\\n]*"|'[^'\\\n]*')
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
_COMPARE_OPS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_HINTS = {"=": "use '==' to compare", "&": "use 'and'", "|": "use 'or'", "!": "use 'not'"}


@dataclass(frozen=True)
class _Token:
    kind: str  # num, str, op, name, keyword, end
    text: str
    column: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            ch = text[pos]
            hint = _HINTS.get(ch, "")
            if ch in "\"'":
                hint = "unterminated string (no escapes or newlines inside strings)"
            extra = f": {hint}" if hint else ""
            raise ConditionError(f"unexpected character {ch!r}{extra}", pos + 1)
        kind = m.lastgroup or ""
        if kind != "space":
            value = m.group()
            if kind == "name" and value in _KEYWORDS:
                kind = "keyword"
            if kind == "num" and len(value.lstrip("-")) > 9:
                raise ConditionError(f"number {value} is too large", pos + 1)
            tokens.append(_Token(kind, value, pos + 1))
        pos = m.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    """Recursive descent over::

    expr     := and_expr ("or" and_expr)*
    and_expr := not_expr ("and" not_expr)*
    not_expr := "not" not_expr | compare
    compare  := atom [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") atom]
    atom     := INT | STRING | "true" | "false" | "null" | NAME
              | "(" expr ")" | "[" [literal ("," literal)*] "]"
    """

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def accept(self, text: str) -> bool:
        tok = self.peek()
        if tok.kind in ("op", "keyword") and tok.text == text:
            self.pos += 1
            return True
        return False

    def expect(self, text: str) -> None:
        tok = self.peek()
        if not self.accept(text):
            raise ConditionError(f"expected '{text}', found {_describe(tok)}", tok.column)

    def parse(self) -> _Node:
        node = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise ConditionError(f"unexpected {_describe(tok)}", tok.column)
        return node

    def _enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_CONDITION_DEPTH:
            raise ConditionError("condition is nested too deeply", tok.column)

    def expr(self) -> _Node:
        self._enter(self.peek())
        operands = [self.and_expr()]
        while self.accept("or"):
            operands.append(self.and_expr())
        self.depth -= 1
        return operands[0] if len(operands) == 1 else _BoolOp("or", tuple(operands))

    def and_expr(self) -> _Node:
        operands = [self.not_expr()]
        while self.accept("and"):
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else _BoolOp("and", tuple(operands))

    def not_expr(self) -> _Node:
        tok = self.peek()
        if self.accept("not"):
            self._enter(tok)
            node = _Not(self.not_expr())
            self.depth -= 1
            return node
        return self.compare()

    def compare(self) -> _Node:
        left = self.atom()
        tok = self.peek()
        if tok.kind == "op" and tok.text in _COMPARE_OPS:
            self.take()
            return _Compare(tok.text, left, self.atom())
        if self.accept("in"):
            return _Compare("in", left, self.atom())
        if tok.kind == "keyword" and tok.text == "not":
            nxt = self.tokens[self.pos + 1]
            if nxt.kind == "keyword" and nxt.text == "in":
                self.pos += 2
                return _Compare("not in", left, self.atom())
        return left

    def atom(self) -> _Node:
        tok = self.take()
        if tok.kind == "num":
            return _Lit(int(tok.text))
        if tok.kind == "str":
            return _Lit(tok.text[1:-1])
        if tok.kind == "keyword" and tok.text in ("true", "false", "null"):
            return _Lit({"true": True, "false": False, "null": None}[tok.text])
        if tok.kind == "name":
            return _Fact(tok.text)
        if tok.kind == "op" and tok.text == "(":
            node = self.expr()
            self.expect(")")
            return node
        if tok.kind == "op" and tok.text == "[":
            values: list[int | str] = []
            if not self.accept("]"):
                while True:
                    item = self.take()
                    if item.kind == "num":
                        values.append(int(item.text))
                    elif item.kind == "str":
                        values.append(item.text[1:-1])
                    else:
                        raise ConditionError(
                            f"a list holds string or integer literals, found {_describe(item)}",
                            item.column,
                        )
                    if self.accept("]"):
                        break
                    self.expect(",")
            return _List(tuple(values))
        raise ConditionError(f"expected a value, found {_describe(tok)}", tok.column)


def _describe(tok: _Token) -> str:
    return "end of condition" if tok.kind == "end" else f"'{tok.text}'"


# static types: "bool", "int", "str", "set", "list", "null"
def _type_of(node: _Node) -> str:
    if isinstance(node, _Lit):
        if node.value is None:
            return "null"
        if isinstance(node.value, bool):
            return "bool"
        return "int" if isinstance(node.value, int) else "str"
    if isinstance(node, _List):
        return "list"
    if isinstance(node, _Fact):
        return FACT_TYPES[node.name].kind
    return "bool"


def _check_value(fact: str, value: object) -> None:
    ftype = FACT_TYPES[fact]
    if ftype.domain and isinstance(value, str) and value not in ftype.domain:
        close = difflib.get_close_matches(value, sorted(ftype.domain), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        names = ", ".join(sorted(ftype.domain))
        raise ConditionError(f"unknown value '{value}' for {fact}{hint}; values: {names}")


def _check(node: _Node) -> None:
    """Type-check a parsed condition; raises ConditionError."""
    if isinstance(node, _Fact):
        if node.name not in FACT_TYPES:
            close = difflib.get_close_matches(node.name, sorted(FACT_TYPES), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConditionError(f"unknown fact '{node.name}'{hint}")
        return
    if isinstance(node, _Lit | _List):
        return
    if isinstance(node, _Not):
        _check(node.operand)
        if _type_of(node.operand) != "bool":
            raise ConditionError(f"'not' needs a true/false operand, got {_type_of(node.operand)}")
        return
    if isinstance(node, _BoolOp):
        for operand in node.operands:
            _check(operand)
            if _type_of(operand) != "bool":
                raise ConditionError(
                    f"'{node.op}' needs true/false operands, got {_type_of(operand)}"
                )
        return
    _check(node.left)
    _check(node.right)
    lt, rt = _type_of(node.left), _type_of(node.right)
    left_fact = node.left.name if isinstance(node.left, _Fact) else None
    right_fact = node.right.name if isinstance(node.right, _Fact) else None
    if left_fact is None and right_fact is None:
        raise ConditionError(f"'{node.op}' compares two constants; name a fact")
    if node.op in ("in", "not in"):
        if rt == "set":
            if lt != "str" or right_fact is None:
                raise ConditionError(f"'{node.op} {right_fact}' needs a string on the left")
            if isinstance(node.left, _Lit):
                _check_value(right_fact, node.left.value)
            elif left_fact is not None:
                raise ConditionError(f"'{node.op} {right_fact}' needs a string literal on the left")
            return
        if rt == "list" and isinstance(node.right, _List) and left_fact is not None:
            want = FACT_TYPES[left_fact].kind
            if want not in ("str", "int"):
                raise ConditionError(
                    f"'{left_fact} {node.op} [...]' needs a string or integer fact"
                )
            for value in node.right.values:
                if (want == "str") != isinstance(value, str):
                    raise ConditionError(f"list for {left_fact} must hold {want} values")
                _check_value(left_fact, value)
            return
        raise ConditionError(
            f"'{node.op}' needs a set fact or a list literal on the right, got {rt}"
        )
    if "set" in (lt, rt) or "list" in (lt, rt):
        raise ConditionError(f"'{node.op}' cannot compare a set or a list; use 'in'")
    if node.op in ("<", "<=", ">", ">="):
        if lt != "int" or rt != "int":
            raise ConditionError(f"'{node.op}' compares integers, got {lt} and {rt}")
        return
    # == and !=
    for fact, other, other_t in ((left_fact, node.right, rt), (right_fact, node.left, lt)):
        if fact is None:
            continue
        ftype = FACT_TYPES[fact]
        if other_t == "null":
            if not ftype.nullable:
                raise ConditionError(f"{fact} is never null")
            return
        if other_t != ftype.kind:
            raise ConditionError(f"{fact} is {ftype.kind}, compared with {other_t}")
        if isinstance(other, _Lit):
            _check_value(fact, other.value)
        return


def _facts_of(node: _Node) -> Iterator[str]:
    if isinstance(node, _Fact):
        yield node.name
    elif isinstance(node, _Not):
        yield from _facts_of(node.operand)
    elif isinstance(node, _BoolOp):
        for operand in node.operands:
            yield from _facts_of(operand)
    elif isinstance(node, _Compare):
        yield from _facts_of(node.left)
        yield from _facts_of(node.right)


def literals_of(node: _Node) -> Iterator[tuple[str, object]]:
    """(fact, literal) pairs the condition compares, for the overlap check."""
    if isinstance(node, _Not):
        yield from literals_of(node.operand)
    elif isinstance(node, _BoolOp):
        for operand in node.operands:
            yield from literals_of(operand)
    elif isinstance(node, _Compare):
        pairs = ((node.left, node.right), (node.right, node.left))
        for a, b in pairs:
            if isinstance(a, _Fact) and isinstance(b, _Lit):
                yield a.name, b.value
            elif isinstance(a, _Fact) and isinstance(b, _List):
                for value in b.values:
                    yield a.name, value
        if isinstance(node.right, _Fact) and isinstance(node.left, _Lit):
            yield node.right.name, node.left.value


def _value(node: _Node, env: Mapping[str, FactValue]) -> FactValue | tuple[int | str, ...]:
    if isinstance(node, _Lit):
        return node.value
    if isinstance(node, _List):
        return node.values
    if isinstance(node, _Fact):
        return env[node.name]
    return _truth(node, env)


def _truth(node: _Node, env: Mapping[str, FactValue]) -> bool:
    """Evaluate a type-checked condition. Never raises for a valid environment.

    An ordering comparison with a null operand is false.
    """
    if isinstance(node, _Not):
        return not _truth(node.operand, env)
    if isinstance(node, _BoolOp):
        if node.op == "and":
            return all(_truth(o, env) for o in node.operands)
        return any(_truth(o, env) for o in node.operands)
    if isinstance(node, _Compare):
        left, right = _value(node.left, env), _value(node.right, env)
        op = node.op
        if op in ("in", "not in"):
            inside = isinstance(right, frozenset | tuple) and left in right
            return inside if op == "in" else not inside
        if op == "==":
            return left == right
        if op == "!=":
            return left != right
        if not isinstance(left, int) or not isinstance(right, int):
            return False
        if op == "<":
            return left < right
        if op == "<=":
            return left <= right
        if op == ">":
            return left > right
        return left >= right
    value = _value(node, env)
    return value is True


@dataclass(frozen=True)
class Condition:
    """A parsed, type-checked condition and the facts it reads."""

    source: str
    node: _Node = field(repr=False, compare=False)
    facts: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Condition:
        if len(text) > MAX_CONDITION_CHARS:
            raise ConditionError(f"condition is longer than {MAX_CONDITION_CHARS} characters")
        node = _Parser(text).parse()
        _check(node)
        if _type_of(node) != "bool":
            raise ConditionError(f"a condition must be true or false, not a {_type_of(node)}")
        return cls(text, node, tuple(sorted(set(_facts_of(node)))))

    def holds(self, env: Mapping[str, FactValue]) -> bool:
        return _truth(self.node, env)
