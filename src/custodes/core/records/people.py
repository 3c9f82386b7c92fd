"""Vault users."""

from __future__ import annotations

from dataclasses import dataclass

from custodes.core.authz import Role


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: Role
    active: bool
    created_at: str
