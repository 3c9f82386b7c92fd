"""What every command shares: the parsed global options and the vault they open."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import typer

from custodes import bootstrap
from custodes.cli import output
from custodes.config import Settings
from custodes.core.ports import ProgressSink


@dataclass
class State:
    """The global options of one invocation; the vault is opened on first use."""

    settings: Settings
    actor: str | None
    json: bool
    _vault: bootstrap.Vault | None = None

    @property
    def vault(self) -> bootstrap.Vault:
        if self._vault is None:
            self._vault = bootstrap.open_vault(self.settings)
        return self._vault

    def acting(self, progress: ProgressSink | None = None) -> bootstrap.Vault:
        """The vault acting for this invocation, reporting to ``progress``."""
        vault = self.vault
        return vault.acting_for(vault.client, progress=progress)


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


def show(st: State, value: Any, human: str | None = None) -> None:
    """``value`` as one JSON document with --json, else the ``human`` line (rich markup),
    else ``value``'s fields as a table."""
    if st.json:
        output.emit_json(value)
    elif human is not None:
        output.console.print(human)
    else:
        output.fields(None, value)
