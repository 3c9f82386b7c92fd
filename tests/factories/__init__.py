"""Small factories for test data, unique per call."""

from __future__ import annotations

import itertools

from custodes.bootstrap import Vault
from custodes.services import cases, users

_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


def add_user(vault: Vault, role: str, name: str | None = None) -> str:
    username = name or unique(role.replace("-", "")[:8] + ".")
    users.add_user(vault, "admin", username, role)
    return username


def add_case(
    vault: Vault,
    *,
    status: str = "open",
    flags: tuple[str, ...] = (),
    members: tuple[str, ...] = (),
) -> str:
    number = unique("CASE-")
    cases.add_case(vault, "admin", number, "a case", status)
    if flags:
        ia = add_user(vault, "internal-affairs")
        cases.set_case(vault, ia, number, flag=list(flags), reason="test case")
    for m in members:
        cases.assign(vault, "admin", number, m)
    return number
