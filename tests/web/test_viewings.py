"""Marked playback over HTTP: start a viewing, fetch its playlist and segments as an HLS
player does; only the viewer may, and every refusal is JSON with a stable code, on
record with the session that asked."""

from __future__ import annotations

from pathlib import Path

from custodes.services import cases, evidence
from tests.web.conftest import Web, post


def test_a_viewer_plays_the_marked_stream_made_for_them(
    sqlite_web: Web, clips: dict[str, Path]
) -> None:
    web = sqlite_web
    rec, other = web.user("records"), web.user("records")
    cases.add_case(web.vault, rec, "C-PLAY", "playback")
    ev = evidence.ingest(web.vault, rec, clips["a"], "C-PLAY").evidence_id
    client = web.sign_in(rec)

    r = post(client, f"/api/v1/evidence/{ev}/viewings", {"end": 2.0})
    assert r.status_code == 201, r.text
    started = r.json()
    vid = started["viewing_id"]
    assert started["playlist"] == f"/api/v1/viewings/{vid}/playlist.m3u8"
    assert started["segments"] == 1 and started["viewer"] == rec

    r = client.get(started["playlist"])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert r.headers["cache-control"] == "no-store"
    assert "segments/0.ts" in r.text.splitlines()

    r = client.get(f"/api/v1/viewings/{vid}/segments/0.ts")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/mp2t" and r.content[:1] == b"\x47"
    assert r.headers["x-segment-cached"] == "0"
    again = client.get(f"/api/v1/viewings/{vid}/segments/0.ts")
    assert again.headers["x-segment-cached"] == "1" and again.content == r.content

    start = web.events("viewing-started")[-1]
    assert start["object_id"] == vid and start["client"].startswith("web:session/")
    sent = [e for e in web.events("viewing-range") if e["object_id"] == vid]
    assert [e["details"]["sent"] for e in sent] == [[[0.0, 2.0]]]

    # Somebody else, even of the same role, is refused the stream, on record.
    stranger = web.sign_in(other)
    before = len(web.events("access-refused"))
    r = stranger.get(f"/api/v1/viewings/{vid}/segments/0.ts")
    assert r.status_code == 403 and r.json()["error"]["code"] == "access-denied"
    refused = web.events("access-refused")[before:]
    assert [e["actor"] for e in refused] == [other]
    assert refused[0]["client"].startswith("web:session/")

    r = client.get("/api/v1/viewings/VW-NOSUCH/playlist.m3u8")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not-found"
    r = client.get(f"/api/v1/viewings/{vid}/segments/7.ts")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid-input"
    r = post(client, f"/api/v1/evidence/{ev}/viewings", {"start": 5.0})
    assert r.status_code == 422 and r.json()["error"]["field"] == "start"

    r = client.get(f"/api/v1/viewings?evidence={ev}")
    assert r.status_code == 200 and [v["viewing_id"] for v in r.json()] == [vid]


def test_a_sensitive_case_asks_for_the_reason_before_playback(
    sqlite_web: Web, clips: dict[str, Path]
) -> None:
    web = sqlite_web
    rec, ia = web.user("records"), web.user("internal-affairs")
    cases.add_case(web.vault, rec, "C-SENS", "sensitive")
    cases.set_case(web.vault, ia, "C-SENS", flag=["sensitive"], reason="mayor's son")
    ev = evidence.ingest(web.vault, rec, clips["b"], "C-SENS").evidence_id
    client = web.sign_in(rec)
    r = post(client, f"/api/v1/evidence/{ev}/viewings", {})
    assert r.status_code == 403 and r.json()["error"]["code"] == "reason-required"
    assert web.events("access-refused")[-1]["evidence"] == ev
    r = post(client, f"/api/v1/evidence/{ev}/viewings", {"reason": "court preparation"})
    assert r.status_code == 201 and r.json()["alerted"] == ["internal-affairs"]
    assert web.events("viewing-started")[-1]["reason"] == "court preparation"
