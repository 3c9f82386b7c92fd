"""Policy packs for tests: variants of the built-in ones, and putting one in force as an
admin would, on any day (a pack that has since expired was current when it was set)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import custodes
from custodes.bootstrap import Vault
from custodes.services import policy
from custodes.services.packs import current_setting


@dataclass(frozen=True)
class FixedClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


def builtin_text(name: str = "colorado") -> str:
    return (Path(custodes.__file__).parent / "packs" / f"{name}.yaml").read_text()


def expired_pack(folder: Path, name: str = "expired.yaml") -> Path:
    """Colorado's pack, in force only in 2019 (it expired on 2020-01-01)."""
    text = re.sub(r"expires: *[0-9-]+", "expires: 2020-01-01", builtin_text())
    text = re.sub(r"effective_from: *[0-9-]+", "effective_from: 2019-01-01", text)
    path = folder / name
    path.write_text(text)
    return path


def put_in_force(
    vault: Vault, choice: str | Path, *, on: datetime | None = None, reason: str = "test"
) -> policy.PolicySet:
    """Put a pack in force as the vault's admin, on the day ``on`` (default: today)."""
    acting = vault if on is None else replace(vault, clock=FixedClock(on.astimezone(UTC)))
    return policy.set_policy(acting, "admin", str(choice), reason)


def pack_sha256(vault: Vault) -> str:
    """The SHA-256 of the pack in force, as its signed event names it."""
    with vault.uow(readonly=True) as uow:
        return current_setting(uow).sha256
