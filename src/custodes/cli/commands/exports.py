"""``custodes export`` and ``custodes exports``: watermarked copies for named recipients."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custodes.cli import output
from custodes.cli.state import State, show, state


def export_cmd(
    ctx: typer.Context,
    evidence_id: str,
    recipient: Annotated[str, typer.Option(help="Who receives this copy (a name on record).")],
    purpose: Annotated[str, typer.Option(help="Why (recorded; the reason on flagged cases).")],
    start: Annotated[float | None, typer.Option(help="Start, seconds into the recording.")] = None,
    end: Annotated[float | None, typer.Option(help="End, seconds into the recording.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output .mp4 (default EX-....mp4).")] = None,
    height: Annotated[
        int | None, typer.Option(help="Scale down to this height (default: source size).")
    ] = None,
    visible_mark: Annotated[
        bool,
        typer.Option(
            "--visible-mark/--no-visible-mark",
            help="Burn in a line naming the recipient, the export id and the date.",
        ),
    ] = True,
) -> None:
    """Make a watermarked copy of evidence for one named recipient (the original stays)."""
    from custodes.services import exports as export_svc

    st = state(ctx)
    cmd = export_svc.ExportEvidence(
        evidence_id,
        recipient=recipient,
        purpose=purpose,
        start=start,
        end=end,
        out=out,
        out_dir=Path.cwd(),  # without --out: EX-....mp4 in the current folder
        height=height,
        visible_mark=visible_mark,
    )
    with output.progress_sink(st.json) as sink:
        result = export_svc.export_evidence(st.acting(sink), st.actor, cmd)
    show(
        st,
        result,
        f"Export [bold]{result.export_id}[/] for {result.recipient}: {result.path} "
        f"({result.frames} frames, sha256 {result.sha256[:16]}…)",
    )


def exports_list(
    ctx: typer.Context,
    evidence: Annotated[str | None, typer.Option("--evidence", help="Only this evidence.")] = None,
    viewings: Annotated[
        bool,
        typer.Option(
            "--viewings",
            help="List the viewings instead: marked playback in the browser, each a copy "
            "made for its viewer.",
        ),
    ] = False,
) -> None:
    """List exports on record (who received which copy, when, why)."""
    from custodes.services import exports as export_svc

    st = state(ctx)
    if viewings:
        _viewings_list(st, evidence)
        return
    rows = export_svc.list_exports(st.acting(), st.actor, evidence)
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "Exports",
            ["export", "evidence", "recipient", "purpose", "by", "at", "range"],
            [
                [
                    r.export_id,
                    r.evidence_id,
                    r.recipient,
                    r.purpose,
                    r.actor,
                    r.created_at[:19],
                    f"{r.start_s:.1f}-{r.end_s:.1f}s",
                ]
                for r in rows
            ],
        )


def _viewings_list(st: State, evidence: str | None) -> None:
    from custodes.services import viewings as viewing_svc

    rows = viewing_svc.list_viewings(st.acting(), st.actor, evidence)
    if st.json:
        output.emit_json(rows)
        return
    output.table(
        "Viewings",
        ["viewing", "evidence", "viewer", "reason", "at", "range"],
        [
            [
                r.viewing_id,
                r.evidence_id,
                r.viewer,
                r.purpose or "",
                r.created_at[:19],
                f"{r.start_s:.1f}-{r.end_s:.1f}s",
            ]
            for r in rows
        ],
    )
