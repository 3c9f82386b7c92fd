"""``custodes demo``: the story, start to finish, on a fresh embedded vault.

It drives the same services as the CLI, as the people of the story would.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from custodes import bootstrap
from custodes.cli.errors import option
from custodes.config import Settings
from custodes.core.errors import CustodesError, PermissionDenied
from custodes.media.leak import simulate_leak
from custodes.media.synth import write_bodycam_clip
from custodes.services import (
    acceptance,
    cases,
    events,
    evidence,
    exports,
    proofs,
    redaction,
    requests,
    trace,
    users,
    verify,
)
from custodes.services.audit import public_vkey

CASE = "2026-TS-0142"
RECORDS, OFFICER, OTHER, SERGEANT, IA = "r.okafor", "ofc.diaz", "ofc.lind", "sgt.kim", "ia.morgan"


def run_demo(settings: Settings, *, quiet: bool = False) -> dict[str, Any]:
    console = Console(stderr=quiet, quiet=quiet, soft_wrap=True)

    def step(text: str) -> None:
        console.print(f"\n[bold cyan]▶ {text}[/]")

    def ok(text: str) -> None:
        console.print(f"  [green]✓[/] {text}")

    def refused(text: str, err: CustodesError) -> None:
        # The story is told on the command line: fields are named as its options.
        console.print(
            f"  [red]✗[/] {text}: [italic]{escape(err.render(option))}[/] (exit {err.exit_code})"
        )

    summary: dict[str, Any] = {"home": str(settings.home.resolve())}
    step(f"A new vault at {settings.home}")
    vault = bootstrap.init_vault(settings)
    ok(f"database, blob store and Ed25519 log key created; log origin {vault.origin}")
    for name, role in [
        (RECORDS, "records"),
        (OFFICER, "officer"),
        (OTHER, "officer"),
        (SERGEANT, "supervisor"),
        (IA, "internal-affairs"),
    ]:
        users.add_user(vault, "admin", name, role)
    ok(
        f"users: {RECORDS} (records), {OFFICER} and {OTHER} (officers), {SERGEANT} "
        f"(supervisor), {IA} (internal affairs)"
    )

    step("A traffic stop is filmed and the footage comes in")
    cases.add_case(vault, RECORDS, CASE, "Traffic stop, E Colfax Ave", "pending-prosecution")
    cases.assign(vault, RECORDS, CASE, OFFICER)
    ok(f"case {CASE} (pending-prosecution), {OFFICER} assigned")
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "AXON_X81234567_20260314_210405.mp4"
        write_bodycam_clip(clip, seconds=12.0, seed=7)
        ev = evidence.ingest(
            vault,
            OFFICER,
            clip,
            CASE,
            device="X81234567",
            recorded_at=datetime(2026, 3, 14, 21, 4, 5, tzinfo=UTC),
        )
        ok(f"ingested {ev.evidence_id}: {ev.duration_s:.1f} s, sha256 {ev.sha256[:16]}…")
        try:
            evidence.ingest(vault, OFFICER, clip, CASE)
        except CustodesError as err:
            refused("the same file again", err)
    evidence_id = ev.evidence_id
    summary["evidence_id"] = evidence_id

    step("The driver is a city official's son: records flags the case sensitive")
    cases.set_case(
        vault, RECORDS, CASE, flag=["sensitive"], reason="driver is a relative of a public official"
    )
    ok("flag 'sensitive' set; opening this evidence now needs a stated reason")

    step("Who may look")
    try:
        evidence.open_evidence(vault, OTHER, evidence_id)
    except PermissionDenied as err:
        refused(f"{OTHER}, not on the case", err)
    try:
        evidence.open_evidence(vault, SERGEANT, evidence_id)
    except PermissionDenied as err:
        refused(f"{SERGEANT} without a reason", err)
    evidence.open_evidence(vault, SERGEANT, evidence_id, reason="use-of-force review, policy 4.12")
    ok(f"{SERGEANT} opens it with a reason; internal affairs is alerted")
    alerts = evidence.list_alerts(vault, IA)
    for a in alerts:
        ok(f"IA alert: {a.actor} opened {a.evidence_id} — “{a.reason}”")
    summary["alerts"] = len(alerts)

    step(f"The audit trail of {evidence_id}")
    trail = events.list_audit(vault, IA, evidence_id=evidence_id)
    for e in trail:
        console.print(f"  #{e.seq:<3} {e.at[:19]}  {e.actor:<10} {e.action:<16} {e.reason or ''}")
    summary["trail"] = [e.action for e in trail]

    step("Proof for an outsider: the ingest event is in the signed log")
    ingest_seq = next(e.seq for e in trail if e.action == "ingest")
    bundle = proofs.prove_inclusion(vault, IA, ingest_seq)
    checked = proofs.verify_bundle(bundle, public_vkey(vault), vault.verify_signature)
    assert isinstance(checked, proofs.InclusionChecked)
    ok(
        f"inclusion proof of event {ingest_seq} in checkpoint of size {checked.tree_size} "
        "verifies with the public key alone"
    )

    step("Three people receive copies; one leaks to the evening news")
    work = Path(tempfile.mkdtemp(prefix="custodes-demo-"))
    copies: dict[str, exports.Exported] = {}
    for recipient, purpose in [
        ("Deputy DA Ruiz", "charging decision"),
        ("Sgt. Kim (use-of-force board)", "policy 4.12 review"),
        ("City Attorney Lowe", "civil claim assessment"),
    ]:
        who = SERGEANT if recipient.startswith("Sgt") else RECORDS
        copies[recipient] = exports.export_evidence(
            vault,
            who,
            exports.ExportEvidence(
                evidence_id,
                recipient=recipient,
                purpose=purpose,
                out=work / f"copy-{len(copies) + 1}.mp4",
            ),
        )
        ok(f"{who} exports {copies[recipient].export_id} for {recipient} (“{purpose}”)")
    leaked = copies["City Attorney Lowe"]
    news = simulate_leak(
        Path(leaked.path),
        work / "evening-news.mp4",
        start_s=1.0,
        seconds=10.0,
        transform="banner",
        crf=28,
        seed=3,
    )
    ok("a 10-second clip airs: cropped, rescaled, a news banner over it, re-encoded")

    step("Internal affairs traces the broadcast clip")
    report_dir = settings.home / "reports"
    report_dir.mkdir(exist_ok=True)
    traced = trace.trace_leak(vault, IA, news, report_dir=report_dir)
    src = traced.source
    assert src is not None
    ok(f"source: {src.evidence_id} from {src.offset_s:.1f} s for {src.duration_s:.1f} s")
    for c in traced.candidates:
        mark = "[red]NAMED[/]" if c.attributed else "not named"
        console.print(
            f"    {c.export_id}  {c.recipient:<30} score {c.score:>6.1f}  "
            f"p {'<' if c.p_below_floor else '='} {c.p_value:.1g}  {mark}"
        )
    ok(f"report: {traced.report.html}")
    summary["trace"] = {"verdict": traced.verdict, "attributed": traced.attributed}
    summary["leaked_export"] = leaked.export_id
    shutil.rmtree(work, ignore_errors=True)

    step("The press asks for the video; the written policy decides")
    req = requests.add_request(
        vault,
        RECORDS,
        requests.AddRequest(
            case_number=CASE,
            requester="Denver Post newsroom",
            kind="press",
            evidence=[evidence_id],
            ranges=[(2.0, 8.0)],
        ),
    )
    ok(f"request {req.request_id} from the Denver Post, due {req.due}")
    proposal = requests.decide_request(vault, RECORDS, req.request_id)
    for r in proposal.rules:
        ok(
            f"proposed: {proposal.outcome} — rule {r['id']} ({r['citation']}), "
            f"review by {proposal.review_at}"
        )
    requests.decide_request(vault, RECORDS, req.request_id, accept=True)
    try:
        requests.decide_request(
            vault, SERGEANT, req.request_id, override="release", reason="the chief wants it out"
        )
    except CustodesError as err:
        refused(f"{SERGEANT} tries to override the hold", err)
    letters = settings.home / "letters"
    letters.mkdir(exist_ok=True)
    hold_letter = requests.write_letter(vault, RECORDS, req.request_id, letters)
    ok(f"letter to the newsroom: {hold_letter.html}")

    step("The case is adjudicated: the hold is reviewed")
    changed = cases.set_case(vault, RECORDS, CASE, status="adjudicated", reason="plea entered")
    for item in changed.holds_reviewed:
        ok(
            f"{item.request_id}: the hold no longer stands; the pack now proposes "
            f"{item.proposed} (records staff alerted, a person decides)"
        )
    requests.set_evidence_flags(
        vault,
        RECORDS,
        evidence_id,
        flag=["bystander-face"],
        reason="bystanders' faces are in view",
    )
    decided = requests.decide_request(vault, RECORDS, req.request_id, accept=True)
    ok(
        f"recorded: {decided.outcome} — the portion asked for (2-8 s), "
        f"redactions: {', '.join(str(r['kind']) for r in decided.redactions) or 'none'}"
    )
    package = settings.home / "releases" / req.request_id
    package.mkdir(parents=True)

    step("Faces are blurred on a copy; nothing unreviewed is released")
    redactions_dir = settings.home / "redactions"
    redactions_dir.mkdir(exist_ok=True)
    redacted = redaction.redact_evidence(
        vault,
        RECORDS,
        redaction.RedactEvidence(
            evidence_id,
            out=redactions_dir / f"{evidence_id}-redacted.mp4",
            faces=True,
            reason=f"bystanders' faces, for request {req.request_id}",
        ),
    )
    ok(
        f"redacted copy {redacted.derivative_id}: faces blurred in {redacted.frames_redacted} "
        f"frames; contact sheet {redacted.contact_sheet}"
    )
    try:
        requests.release_request(vault, RECORDS, req.request_id, package)
    except CustodesError as err:
        refused("a release before anyone reviewed the redacted copy", err)
    accepted = acceptance.accept_redaction(
        vault,
        SERGEANT,
        acceptance.AcceptRedaction(
            redacted.derivative_id,
            covers=("bystander-faces",),
            # An honest review of a copy that hid nothing says why that is enough.
            reason=None if redacted.frames_redacted else "no bystander's face is in view",
        ),
    )
    ok(
        f"{SERGEANT} reviewed the copy and accepted it as covering "
        f"{', '.join(accepted.covers)} (audit event #{accepted.audit_seq})"
    )
    released = requests.release_request(vault, RECORDS, req.request_id, package)
    manifest = json.loads(Path(released.manifest).read_text())
    applied = [
        "; ".join(f["redactions"]["described"]) or "nothing needed hiding"
        for f in manifest["files"]
        if f["redactions"]
    ]
    ok(
        f"released to the newsroom: {len(released.files)} watermarked copy of the portion "
        f"asked for ({'; '.join(applied) or 'unredacted'}), the manifest and the letter in "
        f"{package}"
    )
    summary["redactions_applied"] = applied
    summary["request"] = {"hold": proposal.outcome, "after": decided.outcome}
    from custodes.media.provenance import read_credentials

    # The newsroom checks against the root the department publishes (`provenance --root`),
    # which the package does not carry.
    check = read_credentials(Path(released.files[0]), vault.content_credential().anchors_pem)
    ok(
        "the newsroom checks the copy's Content Credentials (C2PA) against the department's "
        f"published root: {check['state']}, "
        f"signed by {check['signer']['common_name']}; derives from the original "
        f"{check['lineage']['source']['sha256'][:16]}…; "
        + ", ".join(a["description"] for a in check["actions"] if a.get("description"))
    )
    summary["content_credentials"] = check["state"]

    step("custodes verify")
    verified = verify.verify_vault(vault, IA)
    ok(
        f"{verified.events} events, {verified.checkpoints_checked} checkpoints, "
        f"{verified.blobs} blob(s): {'all check out' if verified.ok else 'PROBLEMS'}"
    )
    summary["verify_ok"] = verified.ok

    step("And if someone edits the log? (on a copy of the vault)")
    summary["tamper_detected"] = _tamper_on_copy(settings, console)
    console.print(f"\n[bold]Done.[/] Explore it: custodes --home {settings.home} --as {IA} audit")
    return summary


def _tamper_on_copy(settings: Settings, console: Console) -> list[str]:
    """Edit one audit event behind the vault's back, on a copy, and show verify catch it."""
    if settings.database_url:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "vault"
        shutil.copytree(settings.home, copy)
        db = sqlite3.connect(copy / "vault.db")
        db.execute("DROP TRIGGER audit_events_no_update")
        seq, entry = db.execute(
            "SELECT seq, entry FROM audit_events WHERE action = 'view'"
        ).fetchone()
        db.execute(
            "UPDATE audit_events SET entry = ? WHERE seq = ?",
            (bytes(entry).replace(b"use-of-force", b"routine check"), seq),
        )
        db.commit()
        db.close()
        copied = bootstrap.open_vault(Settings(home=copy))
        result = verify.verify_vault(copied, IA, blobs=False)
        kinds = result.kinds
        console.print(f"  [green]✓[/] an edited reason is caught: {', '.join(kinds)}")
        copied.engine.dispose()
        return kinds
