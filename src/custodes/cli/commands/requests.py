"""``custodes request``: release requests decided by the written policy pack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custodes.cli import output
from custodes.cli.parsing import parse_date, parse_ranges
from custodes.cli.state import show, state

app = typer.Typer(help="Release requests decided by the written policy pack.", no_args_is_help=True)


@app.command("add")
def request_add(
    ctx: typer.Context,
    case: Annotated[str, typer.Option("--case", help="Case number.")],
    requester: Annotated[str, typer.Option(help="Who asks (a newsroom, a person, a court).")],
    kind: Annotated[
        str, typer.Option(help="press, public, subject, prosecutor, defense or court.")
    ],
    evidence: Annotated[
        list[str] | None, typer.Option("--evidence", help="Evidence asked for (default: all).")
    ] = None,
    received_at: Annotated[
        str | None,
        typer.Option(
            help="When the request arrived (YYYY-MM-DD, default today; within the last ten years)."
        ),
    ] = None,
    misconduct_complaint: Annotated[
        bool, typer.Option("--misconduct-complaint", help="Tied to a complaint of misconduct.")
    ] = False,
    range_: Annotated[
        list[str] | None,
        typer.Option(
            "--range",
            help="Only this portion, START-END in seconds, within the recordings (repeatable).",
        ),
    ] = None,
    allegation_on: Annotated[
        str | None, typer.Option(help="Date the misconduct was alleged (YYYY-MM-DD).")
    ] = None,
    incident_on: Annotated[str | None, typer.Option(help="Date of the incident.")] = None,
    critical_incident: Annotated[
        bool, typer.Option("--critical-incident", help="A critical incident (e.g. AB 748).")
    ] = False,
) -> None:
    """Record a release request; its deadline comes from the policy pack."""
    from custodes.services import requests as req_svc

    st = state(ctx)
    cmd = req_svc.AddRequest(
        case_number=case,
        requester=requester,
        kind=kind,
        evidence=evidence or [],
        received_at=parse_date(received_at, "received_at"),
        misconduct_complaint=misconduct_complaint,
        ranges=parse_ranges(range_),
        allegation_on=parse_date(allegation_on, "allegation_on"),
        incident_on=parse_date(incident_on, "incident_on"),
        critical_incident=critical_incident,
    )
    out = req_svc.add_request(st.acting(), st.actor, cmd)
    show(st, out, f"Request [bold]{out.request_id}[/] recorded; due {out.due}.")


@app.command("list")
def request_list(
    ctx: typer.Context,
    open_: Annotated[
        bool,
        typer.Option(
            "--open", help="Only undecided, held, or to decide again after a policy change."
        ),
    ] = False,
    due_before: Annotated[str | None, typer.Option(help="Only due before this date.")] = None,
) -> None:
    """List release requests you may see.

    "review: needed" marks those a records user must decide again because the
    policy pack in force changed (see custodes policy)."""
    from custodes.services import requests as req_svc

    st = state(ctx)
    rows = req_svc.list_requests(
        st.acting(), st.actor, open_only=open_, due_before=parse_date(due_before, "due_before")
    )
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "Release requests",
            ["request", "case", "requester", "kind", "received", "due", "status", "review"],
            [
                [
                    *(r.request_id, r.case, r.requester, r.kind, r.received_at, r.due),
                    r.status,
                    "needed" if r.needs_review else "",
                ]
                for r in rows
            ],
        )


@app.command("show")
def request_show(ctx: typer.Context, request_id: str) -> None:
    """Show a request and its decisions."""
    from custodes.services import requests as req_svc

    st = state(ctx)
    detail = req_svc.show_request(st.acting(), st.actor, request_id)
    if st.json:
        output.emit_json(detail)
        return
    output.fields(f"Request {detail.request_id}", detail, skip=("decisions",))
    if detail.decisions:
        output.table(
            "Decisions",
            ["decision", "outcome", "proposed", "by", "at", "override reason"],
            [
                [
                    d.decision_id,
                    d.outcome,
                    d.proposed,
                    d.decider,
                    d.decided_at[:19],
                    d.override_reason,
                ]
                for d in detail.decisions
            ],
        )


@app.command("decide")
def request_decide(
    ctx: typer.Context,
    request_id: str,
    accept: Annotated[bool, typer.Option("--accept", help="Record the proposed outcome.")] = False,
    override: Annotated[
        str | None, typer.Option(help="Record this outcome instead (needs --reason).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (required for an override).")] = None,
    finding: Annotated[
        list[str] | None,
        typer.Option(
            help="A finding a person made: interference-found, prosecutor-statement, "
            "redaction-insufficient, sealed-by-court, extension-invoked."
        ),
    ] = None,
) -> None:
    """Show the policy pack's proposed outcome; --accept or --override to record one."""
    from custodes.services import requests as req_svc

    st = state(ctx)
    out = req_svc.decide_request(
        st.acting(),
        st.actor,
        request_id,
        accept=accept,
        override=override,
        reason=reason,
        findings=finding or [],
    )
    if st.json:
        output.emit_json(out)
        return
    verb = "Recorded" if out.recorded else "Proposed"
    output.console.print(f"{verb}: [bold]{out.outcome}[/] (pack {out.pack_sha256[:12]}…)")
    for r in out.rules:
        reads = r.get("reads")
        output.console.print(
            output.plain(f"  {r['id']}  ").append(str(r["citation"]), style="italic"),
            output.plain(
                f"  reads {output.facts_text(reads)}" if isinstance(reads, dict) and reads else ""
            ),
            sep="",
        )
    if out.review_at:
        output.console.print(f"  review at {out.review_at}")


@app.command("letter")
def request_letter(
    ctx: typer.Context,
    request_id: str,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder for the HTML and PDF letter; made if missing (its parent must exist).",
        ),
    ],
) -> None:
    """Write the letter to the requester for the latest recorded decision."""
    from custodes.services import requests as req_svc

    st = state(ctx)
    result = req_svc.write_letter(st.acting(), st.actor, request_id, out)
    show(st, result, f"Letter written: {result.html} and {result.pdf}")


@app.command("release")
def request_release(
    ctx: typer.Context,
    request_id: str,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="A new folder for the package, made here (its parent must exist); an existing "
            "one must be empty. A failed release leaves nothing in it.",
        ),
    ],
    redaction: Annotated[
        list[str] | None,
        typer.Option(
            "--redaction",
            help="An accepted redaction (RD-..., from `custodes redact`, accepted with "
            "`custodes redaction accept`) to release its evidence from; repeatable. Default: "
            "the latest accepted one covering what the decision requires. A recording whose "
            "decision requires redactions is never released without one.",
        ),
    ] = None,
) -> None:
    """Make the package the recorded decision allows: copies with signed Content
    Credentials (C2PA), a manifest of hashes and lineage, and the letter."""
    from custodes.services import requests as req_svc

    st = state(ctx)
    with output.progress_sink(st.json) as sink:
        result = req_svc.release_request(
            st.acting(sink), st.actor, request_id, out, redactions=redaction or ()
        )
    show(st, result, f"Released {len(result.files)} file(s); manifest {result.manifest}")


@app.command("review-due")
def request_review_due(ctx: typer.Context) -> None:
    """Re-evaluate held requests whose review date came or whose facts changed."""
    from custodes.services import requests as req_svc

    st = state(ctx)
    rows = req_svc.review_due(st.acting(), st.actor)
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "Held requests to review",
            ["request", "case", "review at", "now proposed", "changed"],
            [[r.request_id, r.case, r.review_at, r.proposed, r.changed] for r in rows],
        )
