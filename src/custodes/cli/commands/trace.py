"""``custodes trace`` and ``custodes index``: where a leaked clip came from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custodes.cli import output
from custodes.cli.state import show, state
from custodes.core.errors import InvalidInput


def trace_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The leaked clip.")],
    case: Annotated[
        str | None, typer.Option("--case", help="Search only this case's evidence.")
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report-dir",
            help="Folder for the HTML and PDF report (default: here); made if missing (its "
            "parent must exist).",
        ),
    ] = None,
) -> None:
    """Find which evidence and seconds a leaked clip shows, and which copy it came from."""
    from custodes.services import trace as trace_svc

    st = state(ctx)
    with output.progress_sink(st.json) as sink:
        result = trace_svc.trace_leak(
            st.acting(sink), st.actor, file, case_number=case, report_dir=report_dir or Path.cwd()
        )
    if st.json:
        output.emit_json(result)
        return
    src = result.source
    if src is None:
        output.console.print("[yellow]Source not found[/]: this footage is not in the vault.")
    else:
        output.console.print(
            f"Source: [bold]{src.evidence_id}[/] (case {src.case}) from "
            f"{src.offset_s:.1f} s for {src.duration_s:.1f} s."
        )
        output.table(
            "Candidate copies",
            ["export", "recipient", "score", "p-value", "named"],
            [
                [
                    c.export_id,
                    c.recipient,
                    f"{c.score:.1f}",
                    ("< " if c.p_below_floor else "") + f"{c.p_value:.2g}",
                    "YES" if c.attributed else "",
                ]
                for c in result.candidates
            ],
        )
        for h in result.held_also:
            output.console.print(
                f"Also held in: {h.evidence_id} (case {h.case}) from {h.offset_s:.1f} s"
                + ("" if h.copies_tested else " (its copies were not tested: use --case)")
            )
        output.console.print(f"Verdict: [bold]{result.verdict}[/]")
    output.console.print(f"Report: {result.report.html} and .pdf")


def index_cmd(
    ctx: typer.Context,
    case: Annotated[str | None, typer.Option("--case", help="Only this case's evidence.")] = None,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Make every archive-index key anew from the vouched fingerprints (after "
            "an upgrade of the key format, or when a key row is suspect).",
        ),
    ] = False,
) -> None:
    """Fingerprint evidence not yet fingerprinted, and key it in the archive index, so
    that traces need not (run after ingest, e.g. nightly: about 75 s of CPU per hour of
    640x360 video)."""
    from custodes.services import locate as locate_svc
    from custodes.services import trace as trace_svc

    st = state(ctx)
    if rebuild:
        if case is not None:
            raise InvalidInput("--rebuild keys the whole archive: leave out --case", field="case")
        with output.progress_sink(st.json) as sink:
            rebuilt = locate_svc.rebuild_index(st.acting(sink), st.actor)
        show(
            st,
            rebuilt,
            f"Keyed {rebuilt.keyed} of {rebuilt.evidence} evidence item(s) in the archive index.",
        )
        return
    with output.progress_sink(st.json) as sink:
        result = trace_svc.index_evidence(st.acting(sink), st.actor, case_number=case)
    show(
        st,
        result,
        f"Fingerprinted {len(result.indexed)} evidence item(s); "
        f"{result.already_indexed} of {result.evidence} were already indexed.",
    )


def locate_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The leaked clip.")],
) -> None:
    """Find which recordings and seconds a clip shows, in the whole archive (the evidence
    you may trace against), without attributing a copy: ranked sources with offsets,
    speeds, scores and confidence. On the audit log as a trace is."""
    from custodes.services import locate as locate_svc

    st = state(ctx)
    with output.progress_sink(st.json) as sink:
        result = locate_svc.locate_leak(st.acting(sink), st.actor, file)
    if st.json:
        output.emit_json(result)
        return
    if not result.sources:
        output.console.print(
            f"[yellow]Not found[/] in {result.searched_evidence} recording(s) "
            f"({result.searched_hours:.1f} h): this footage is not in the vault."
        )
        return
    output.table(
        f"Sources ({result.searched_evidence} recordings searched)",
        ["evidence", "case", "leak s", "source s", "speed", "mirror", "score", "confidence"],
        [
            [
                s.evidence_id,
                s.case_number,
                f"{s.leak_start_s:.1f}-{s.leak_end_s:.1f}",
                f"{s.source_start_s:.1f}-{s.source_end_s:.1f}",
                f"{s.rate:.3f}",
                "yes" if s.mirrored else "",
                f"{s.score:.2f}",
                f"{s.confidence:.6f}",
            ]
            for s in result.sources
        ],
    )
