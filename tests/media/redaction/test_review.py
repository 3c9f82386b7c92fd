"""custodes.media.redaction.review: the contact sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2

from custodes.media.redaction import RedactionPlan, contact_sheet


def test_contact_sheet_shows_redacted_frames(
    plan: RedactionPlan, redacted: Any, tmp_path: Path
) -> None:
    sheet = tmp_path / "sheet.png"
    shown = contact_sheet(sheet, redacted[0], plan, n=12)
    assert len(shown) == 12
    img = cv2.imread(str(sheet))
    assert img is not None and img.shape[0] > 3 * 180 and img.shape[1] > 4 * 320
    assert set(shown) <= set(plan.frames_with_boxes())
