"""The trace report states p-values no smaller than the vault's calibration supports."""

from __future__ import annotations

from pathlib import Path

from custodes.core.attribution import P_FLOOR
from custodes.reports.trace import odds_text, render_html, render_pdf


def test_odds_never_claim_more_than_the_floor() -> None:
    assert odds_text(0.0) == "less than 1 in 10^9"
    assert odds_text(P_FLOOR, below=True) == "less than 1 in 10^9"
    assert odds_text(3e-5) == "less than 1 in 10^4"
    assert odds_text(0.004) == "about 1 in 250"
    assert "300" not in odds_text(0.0)


def _doc() -> dict:
    candidate = {
        "export_id": "EX-1",
        "recipient": "Deputy DA Ruiz",
        "score": 41.2,
        "p_value": P_FLOOR,
        "p_below_floor": True,
        "attributed": True,
        "p_text": "< 1e-09",
        "null_text": "0 of 1,000",
        "plain": "an innocent copy scores this high with a chance of less than 1 in 10^9",
    }
    return {
        "trace_id": "TR-1",
        "created_at": "2026-12-07T17:00:00Z",
        "actor": "ia",
        "software": "test",
        "summary": "summary",
        "attributed": ["EX-1"],
        "leak": {
            "name": "news.mp4",
            "sha256": "0" * 64,
            "size": 1,
            "duration_s": 8.0,
            "width": 320,
            "height": 180,
        },
        "source": None,
        "frames": [],
        "candidates": [candidate],
        "history": [],
        "null": {"keys": 1000, "mean": 0.0, "std": 1.0, "max": 3.1},
        "alpha_text": "1e-06",
        "per_candidate_text": "1e-06",
        "floor_text": f"{P_FLOOR:g}",
        "audit_seq": 7,
        "checkpoint": None,
    }


def test_the_report_states_the_floor_and_its_assumption(tmp_path: Path) -> None:
    html = " ".join(render_html(_doc()).split())
    assert "<td>&lt; 1e-09</td>" in html and "<td>0 of 1,000</td>" in html
    assert "records verify" in html and "No p-value below 1e-09 is stated" in html
    assert "10^300" not in html and "e-300" not in html
    render_pdf(_doc(), tmp_path / "r.pdf")
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
