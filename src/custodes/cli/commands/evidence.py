"""``custodes ingest``, ``custodes evidence`` and ``custodes alerts``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from custodes.cli import output
from custodes.cli.commands.cases import print_holds_reviewed
from custodes.cli.options import FlagReason, Unflag
from custodes.cli.state import show, state
from custodes.services import evidence as evidence_svc

app = typer.Typer(help="Evidence in the vault.", no_args_is_help=True)


def ingest(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The video file to ingest.")],
    case: Annotated[str, typer.Option("--case", help="Case number.")],
    officer: Annotated[
        str | None,
        typer.Option(
            help="Username of the officer (or supervisor) who recorded it; an officer "
            "ingesting is the default and may name only themselves."
        ),
    ] = None,
    device: Annotated[str | None, typer.Option(help="Camera serial number.")] = None,
    recorded_at: Annotated[
        str | None, typer.Option(help="When it was recorded (ISO 8601 with time zone).")
    ] = None,
) -> None:
    """Stream a video into the vault, hash it, probe it, and record it as evidence."""
    st = state(ctx)
    recorded = evidence_svc.parse_iso8601(recorded_at, "recorded_at") if recorded_at else None
    with output.progress_sink(st.json) as sink:
        out = evidence_svc.ingest(
            st.acting(sink),
            st.actor,
            file,
            case,
            officer=officer,
            device=device,
            recorded_at=recorded,
        )
    show(
        st,
        out,
        f"Ingested [bold]{out.evidence_id}[/] into case {case}: sha256 {out.sha256}, "
        f"{out.duration_s:.1f} s."
        + (
            f"\n[yellow]Kept as it is, damaged[/] ({escape(out.damage)}): "
            f"readable {out.media.readable()}."
            if out.damage
            else ""
        ),
    )


@app.command("list")
def evidence_list(
    ctx: typer.Context,
    case: Annotated[str | None, typer.Option("--case", help="Only this case.")] = None,
) -> None:
    """List the evidence you may see."""
    st = state(ctx)
    rows = evidence_svc.list_evidence(st.acting(), st.actor, case)
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "Evidence",
            ["evidence", "case", "officer", "recorded", "duration", "sha256"],
            [
                [
                    r.evidence_id,
                    r.case,
                    r.officer,
                    r.recorded_at,
                    f"{r.duration_s:.1f}s" + (" (damaged)" if r.damage else ""),
                    r.sha256[:16] + "…",
                ]
                for r in rows
            ],
        )


@app.command("show")
def evidence_show(
    ctx: typer.Context,
    evidence_id: str,
    reason: Annotated[
        str | None, typer.Option(help="Why you open it (required on flagged cases).")
    ] = None,
) -> None:
    """Open evidence for viewing: checked, recorded, and on flagged cases IA is told."""
    st = state(ctx)
    opened = evidence_svc.open_evidence(st.acting(), st.actor, evidence_id, reason=reason)
    if st.json:
        output.emit_json(opened)
        return
    # The media fields the listing has already (size, duration) are shown once; where
    # the original is kept is shown to those the service gives it to (admins).
    output.fields(
        f"Evidence {opened.evidence_id} (this viewing is on record)",
        opened,
        skip=(
            "media.width",
            "media.height",
            "media.fps",
            "media.duration_s",
            *(["path"] if opened.path is None else []),
        ),
        labels={"path": "original kept at"},
    )


def alerts(ctx: typer.Context) -> None:
    """Alerts addressed to you: internal affairs (e.g. sensitive evidence opened), command
    staff (a policy decision overridden), records (a hold that no longer stands)."""
    st = state(ctx)
    rows = evidence_svc.list_alerts(st.acting(), st.actor)
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "Alerts",
            ["at", "kind", "actor", "case", "evidence", "reason", "audit seq", "vouched"],
            [
                [
                    r.at,
                    r.kind,
                    r.actor,
                    r.case,
                    r.evidence_id,
                    r.reason,
                    r.audit_seq,
                    "yes" if r.vouched else "NO: not on the signed log",
                ]
                for r in rows
            ],
        )


@app.command("flag")
def evidence_flag(
    ctx: typer.Context,
    evidence_id: str,
    flag: Annotated[
        list[str] | None,
        typer.Option(
            help="What it shows: minor, victim, medical, home-interior, informant, "
            "bystander-face, plate."
        ),
    ] = None,
    unflag: Unflag = None,
    reason: FlagReason = None,
) -> None:
    """Record what a recording shows (read by the policy pack)."""
    from custodes.services import requests as req_svc

    st = state(ctx)
    out = req_svc.set_evidence_flags(
        st.acting(), st.actor, evidence_id, flag=flag or [], unflag=unflag or [], reason=reason
    )
    show(st, out, f"{evidence_id}: {', '.join(out.flags) or 'no flags'}.")
    print_holds_reviewed(st, out.holds_reviewed, out.warnings)
