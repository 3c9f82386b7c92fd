"""docs/configuration.md names every setting of config.Settings, with the code's default."""

from __future__ import annotations

import re
from pathlib import Path

from custodes.config import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
ROW = re.compile(r"^\| `CUSTODES_([A-Z0-9_]+)` \| ([^|]+) \|", re.MULTILINE)


def test_the_reference_lists_every_setting_with_its_default() -> None:
    rows = {name.lower(): default.strip() for name, default in ROW.findall(DOC.read_text())}
    assert set(rows) == set(Settings.model_fields)
    for name, field in Settings.model_fields.items():
        want = "unset" if field.default is None else f"`{field.default}`"
        assert rows[name] == want, name
