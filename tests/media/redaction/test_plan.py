"""custodes.media.redaction.plan: the sidecar round trip, a reviewer's edit, hostile sidecars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from custodes.core.errors import InvalidInput
from custodes.media.redaction import RedactionPlan, apply_redaction
from tests.media.redaction.clip import Clip, decode_rgb


def test_sidecar_round_trip(plan: RedactionPlan, tmp_path: Path) -> None:
    text = plan.to_json()
    back = RedactionPlan.from_json(text)
    assert back.to_json() == text
    assert (
        back.detector is not None and back.detector["model_sha256"] == plan.detector["model_sha256"]
    )  # type: ignore[index]
    assert back.params == plan.params and back.regions == plan.regions
    assert back.frames_with_boxes() == plan.frames_with_boxes()
    path = tmp_path / "plan.json"
    plan.save(path)
    assert RedactionPlan.load(path).to_json() == text
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_a_reviewer_can_add_a_box(clip: Clip, plan: RedactionPlan, tmp_path: Path) -> None:
    doc = json.loads(plan.to_json())
    doc["frames"].setdefault("3", []).append(
        {"box": [250, 20, 300, 60], "how": "manual", "kind": "region", "label": "tattoo"}
    )
    edited = RedactionPlan.from_json(json.dumps(doc))
    assert any(b.how == "manual" for b in edited.boxes[3])
    res = apply_redaction(clip.path, tmp_path / "e.mp4", edited, style="box")
    assert res.boxes_redacted == plan.box_count() + 1
    assert decode_rgb(tmp_path / "e.mp4")[3][25:55, 255:295].mean() < 20


def _doc(plan: RedactionPlan) -> dict[str, Any]:
    return json.loads(plan.to_json())  # type: ignore[no-any-return]


HOSTILE: list[tuple[str, Any]] = [
    ("not json", lambda d: "{not json"),
    ("truncated", lambda d: json.dumps(d)[:-10]),
    ("empty", lambda d: ""),
    ("a list", lambda d: "[]"),
    ("nan", lambda d: json.dumps({**d, "video": {**d["video"], "fps": float("nan")}})),
    ("infinity", lambda d: json.dumps(d).replace('"width": 320', '"width": Infinity')),
    ("duplicate key", lambda d: json.dumps(d)[:-1] + ',"frames":{}}'),
    ("deep nesting", lambda d: "[" * 100_000 + "]" * 100_000),
    ("wrong format", lambda d: json.dumps({**d, "format": "something-else"})),
    ("future version", lambda d: json.dumps({**d, "version": 2})),
    ("unknown field", lambda d: json.dumps({**d, "exec": "rm -rf /"})),
    ("negative box", lambda d: json.dumps({**d, "frames": {"0": [{"box": [-5, 0, 10, 10]}]}})),
    ("box past edge", lambda d: json.dumps({**d, "frames": {"0": [{"box": [0, 0, 10, 1e9]}]}})),
    ("inverted box", lambda d: json.dumps({**d, "frames": {"0": [{"box": [20, 0, 10, 10]}]}})),
    ("string coords", lambda d: json.dumps({**d, "frames": {"0": [{"box": ["0", 0, 10, 10]}]}})),
    ("bool coords", lambda d: json.dumps({**d, "frames": {"0": [{"box": [True, 0, 10, 10]}]}})),
    ("frame too far", lambda d: json.dumps({**d, "frames": {"999999": [{"box": [0, 0, 10, 10]}]}})),
    ("frame not int", lambda d: json.dumps({**d, "frames": {"-1": [{"box": [0, 0, 10, 10]}]}})),
    ("frame padded", lambda d: json.dumps({**d, "frames": {"007": [{"box": [0, 0, 10, 10]}]}})),
    (
        "too many boxes",
        lambda d: json.dumps({**d, "frames": {"0": [{"box": [0, 0, 10, 10]}] * 300}}),
    ),
    (
        "bad kind",
        lambda d: json.dumps({**d, "frames": {"0": [{"box": [0, 0, 10, 10], "kind": "x"}]}}),
    ),
    (
        "control chars",
        lambda d: json.dumps({**d, "frames": {"0": [{"box": [0, 0, 9, 9], "label": "a\nb"}]}}),
    ),
    (
        "huge label",
        lambda d: json.dumps({**d, "frames": {"0": [{"box": [0, 0, 9, 9], "label": "a" * 500}]}}),
    ),
    ("bad params", lambda d: json.dumps({**d, "params": {**d["params"], "hold": -3}})),
    (
        "bad tracker",
        lambda d: json.dumps({**d, "params": {**d["params"], "region_tracker": "os.system"}}),
    ),
    ("bad video", lambda d: json.dumps({**d, "video": {**d["video"], "width": 0}})),
    ("bad sha", lambda d: json.dumps({**d, "video": {**d["video"], "sha256": "zz"}})),
    ("detector object", lambda d: json.dumps({**d, "detector": {"x": {"y": 1}}})),
    (
        "region outside",
        lambda d: json.dumps({**d, "regions": [{"t_s": 0, "x": 1e6, "y": 0, "w": 5, "h": 5}]}),
    ),
]


@pytest.mark.parametrize(("name", "make"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_corrupt_or_hostile_sidecar_is_refused(plan: RedactionPlan, name: str, make: Any) -> None:
    text = make(_doc(plan))
    with pytest.raises(InvalidInput) as err:
        RedactionPlan.from_json(text)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("corrupt redaction plan")


def test_a_plan_states_what_it_hides_by_kind_and_label() -> None:
    from custodes.media.redaction import RegionSeed
    from custodes.media.redaction.plan import PlanBox

    face = PlanBox(0, 0, 10, 10)
    plate = PlanBox(20, 20, 40, 30, kind="region", label="plate")
    plan = RedactionPlan(
        width=64,
        height=48,
        fps=10.0,
        frames=40,
        faces=True,
        regions=[RegionSeed(0.0, 20, 20, 20, 10, "plate"), RegionSeed(1.0, 0, 0, 8, 8, "gone")],
        boxes={0: [face, plate], 1: [face, face], 2: [plate], 7: [face]},
    )
    assert plan.applied() == {
        "faces": {"searched": True, "boxes": 4, "frames": 3, "spans": [[0.0, 0.2], [0.7, 0.8]]},
        "regions": [
            # A region drawn whose boxes were all deleted still names its label: nothing hid it.
            {"label": "gone", "boxes": 0, "frames": 0, "spans": []},
            {"label": "plate", "boxes": 2, "frames": 2, "spans": [[0.0, 0.1], [0.2, 0.3]]},
        ],
    }
    assert RedactionPlan(64, 48, 10.0, 40).applied()["faces"] == {
        "searched": False,
        "boxes": 0,
        "frames": 0,
        "spans": [],
    }
