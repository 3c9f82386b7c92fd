"""The ``custodes`` command line (Typer). Thin: parse, call a service, print.

The acting user is ``--as USER``, else ``CUSTODES_USER``, else the operating-system
user name. Local use trusts the operating system, as psql's peer authentication does:
whoever can run this program with read and write access to the vault folder and
database may act as any vault user, so the folder must belong to the service account
(``custodes init`` makes it 0700). See docs/security.md.
"""

from __future__ import annotations

import getpass
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from custodes import __version__, bootstrap
from custodes.cli import output
from custodes.cli.errors import run_with_errors
from custodes.config import Settings
from custodes.core.errors import InvalidInput
from custodes.services import cases as case_svc
from custodes.services import evidence as evidence_svc
from custodes.services import proofs as proof_svc
from custodes.services import users as user_svc
from custodes.services import verify as verify_svc
from custodes.services.audit import check_new_file, dump_json

app = typer.Typer(
    name="custodes",
    help="An evidence vault for body-worn-camera video: custody, access on record, "
    "a provable audit log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
user_app = typer.Typer(help="Vault users and their roles.", no_args_is_help=True)
case_app = typer.Typer(help="Cases: status, flags, assignments.", no_args_is_help=True)
evidence_app = typer.Typer(help="Evidence in the vault.", no_args_is_help=True)
audit_app = typer.Typer(
    help="The audit log: list events, prove them, check proofs.", invoke_without_command=True
)
app.add_typer(user_app, name="user")
app.add_typer(case_app, name="case")
app.add_typer(evidence_app, name="evidence")
app.add_typer(audit_app, name="audit")
request_app = typer.Typer(
    help="Release requests decided by the written policy pack.", no_args_is_help=True
)
app.add_typer(request_app, name="request")


@dataclass
class State:
    settings: Settings
    actor: str | None
    json: bool
    _vault: bootstrap.Vault | None = None

    @property
    def vault(self) -> bootstrap.Vault:
        if self._vault is None:
            self._vault = bootstrap.open_vault(self.settings)
        return self._vault


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


@app.callback()
def main_callback(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Vault folder (default: $CUSTODES_HOME or ./custodes-data)."),
    ] = None,
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="Acting vault user (default: $CUSTODES_USER, else OS user)."),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")
    ] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        print(__version__)
        raise typer.Exit()
    settings = Settings(home=home) if home is not None else Settings()
    actor = as_user or settings.user or _os_user()
    ctx.obj = State(settings=settings, actor=actor, json=json_out)


def _print(st: State, value: Any, human: str | None = None) -> None:
    if st.json:
        output.emit_json(value)
    elif human is not None:
        output.console.print(human)
    else:
        output.console.print_json(json.dumps(value, default=str))


# --------------------------------------------------------------------------- init


@app.command()
def init(ctx: typer.Context) -> None:
    """Create the vault (database, blob folder, signing key) and its `admin` user."""
    st = state(ctx)
    vault = bootstrap.init_vault(st.settings)
    st._vault = vault
    _print(
        st,
        {"home": str(st.settings.home.resolve()), "origin": vault.origin, "admin": "admin"},
        f"Vault created at [bold]{st.settings.home.resolve()}[/] (log origin {vault.origin}); "
        "user [bold]admin[/] can now add users: custodes --as admin user add ...",
    )


# --------------------------------------------------------------------------- users


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    username: str,
    role: Annotated[
        str,
        typer.Option(
            help="officer, supervisor, records, prosecutor, internal-affairs, admin or command."
        ),
    ],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read a password (for the web UI) on stdin.")
    ] = False,
) -> None:
    """Add a vault user with a role."""
    st = state(ctx)
    password = _read_password() if password_stdin else None
    out = user_svc.add_user(st.vault, st.actor, username, role, password)
    _print(st, out, f"User [bold]{out['username']}[/] added with role {out['role']}.")


def _read_password() -> str:
    """The first line of stdin, which must be UTF-8 (its bytes, not the locale's guess)."""
    line = sys.stdin.buffer.readline().rstrip(b"\n")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the password must be valid UTF-8") from None


@user_app.command("list")
def user_list(ctx: typer.Context) -> None:
    """List vault users."""
    st = state(ctx)
    rows = user_svc.list_users(st.vault, st.actor)
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "Users",
            ["username", "role", "active", "created"],
            [[r["username"], r["role"], r["active"], r["created_at"]] for r in rows],
        )


# --------------------------------------------------------------------------- cases


@case_app.command("add")
def case_add(
    ctx: typer.Context,
    number: str,
    title: Annotated[str, typer.Option(help="A short title.")] = "",
    status: Annotated[
        str, typer.Option(help="open, pending-prosecution, adjudicated or closed.")
    ] = "open",
) -> None:
    """Open a case."""
    st = state(ctx)
    out = case_svc.add_case(st.vault, st.actor, number, title, status)
    _print(st, out, f"Case [bold]{number}[/] added ({out['status']}).")


@case_app.command("set")
def case_set(
    ctx: typer.Context,
    number: str,
    status: Annotated[str | None, typer.Option(help="New status.")] = None,
    flag: Annotated[
        list[str] | None,
        typer.Option(help="Add a flag: sensitive, juvenile, victim-privacy, ia-investigation."),
    ] = None,
    unflag: Annotated[list[str] | None, typer.Option(help="Remove a flag.")] = None,
    reason: Annotated[
        str | None,
        typer.Option(help="Why (recorded in the audit log; required with --flag and --unflag)."),
    ] = None,
) -> None:
    """Change a case's status or flags."""
    st = state(ctx)
    out = case_svc.set_case(
        st.vault,
        st.actor,
        number,
        status=status,
        flag=flag or [],
        unflag=unflag or [],
        reason=reason,
    )
    _print(
        st,
        out,
        f"Case [bold]{number}[/]: status {out['status']}, flags "
        f"{', '.join(out['flags']) or 'none'}.",
    )
    _print_holds_reviewed(st, out)


def _print_holds_reviewed(st: State, out: dict[str, Any]) -> None:
    """After a fact changed: the holds that no longer stand, and any warning (human mode)."""
    if st.json:
        return
    for h in out.get("holds_reviewed", []):
        output.console.print(
            f"Hold on request [bold]{h['request_id']}[/] no longer stands: the policy pack "
            f"now proposes [bold]{h['proposed']}[/] ({', '.join(h['rules'])}). A records "
            f"user must decide it again (custodes request decide {h['request_id']})."
        )
    for w in out.get("warnings", []):
        output.err_console.print(f"[yellow]warning[/]: {escape(w)}")


@case_app.command("assign")
def case_assign(
    ctx: typer.Context,
    number: str,
    username: str,
    restore_reach: Annotated[
        bool,
        typer.Option(
            "--restore-reach",
            help="Internal affairs only: give an officer reach again to a case under "
            "investigation (assigning them if they are not).",
        ),
    ] = False,
    reason: Annotated[
        str | None,
        typer.Option(help="Why (recorded in the audit log; required with --restore-reach)."),
    ] = None,
) -> None:
    """Assign a user (an officer, a prosecutor) to a case."""
    st = state(ctx)
    if restore_reach:
        out = case_svc.restore_reach(st.vault, st.actor, number, username, reason)
        _print(st, out, f"{username}'s reach to case [bold]{number}[/] restored.")
        return
    out = case_svc.assign(st.vault, st.actor, number, username, reason)
    _print(st, out, f"{username} assigned to case [bold]{number}[/].")


@case_app.command("list")
def case_list(ctx: typer.Context) -> None:
    """List the cases you may see."""
    st = state(ctx)
    rows = case_svc.list_cases(st.vault, st.actor)
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "Cases",
            ["case", "title", "status", "flags", "members"],
            [
                [r["case"], r["title"], r["status"], ",".join(r["flags"]), ",".join(r["members"])]
                for r in rows
            ],
        )


@case_app.command("show")
def case_show(ctx: typer.Context, number: str) -> None:
    """Show one case."""
    st = state(ctx)
    _print(st, case_svc.show_case(st.vault, st.actor, number))


# --------------------------------------------------------------------------- evidence


@app.command()
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
    size = file.stat().st_size if file.is_file() else 0
    with output.byte_progress(f"ingest {file.name}", size, st.json) as advance:
        out = evidence_svc.ingest(
            st.vault,
            st.actor,
            file,
            case,
            officer=officer,
            device=device,
            recorded_at=recorded_at,
            progress=advance,
        )
    _print(
        st,
        out,
        f"Ingested [bold]{out['evidence_id']}[/] into case {case}: sha256 {out['sha256']}, "
        f"{out['duration_s']:.1f} s.",
    )


@evidence_app.command("list")
def evidence_list(
    ctx: typer.Context,
    case: Annotated[str | None, typer.Option("--case", help="Only this case.")] = None,
) -> None:
    """List the evidence you may see."""
    st = state(ctx)
    rows = evidence_svc.list_evidence(st.vault, st.actor, case)
    if st.json:
        for r in rows:
            r.pop("media", None)
        output.emit_json(rows)
    else:
        output.table(
            "Evidence",
            ["evidence", "case", "officer", "recorded", "duration", "sha256"],
            [
                [
                    r["evidence_id"],
                    r["case"],
                    r["officer"],
                    r["recorded_at"],
                    f"{r['duration_s']:.1f}s",
                    r["sha256"][:16] + "…",
                ]
                for r in rows
            ],
        )


@evidence_app.command("show")
def evidence_show(
    ctx: typer.Context,
    evidence_id: str,
    reason: Annotated[
        str | None, typer.Option(help="Why you open it (required on flagged cases).")
    ] = None,
) -> None:
    """Open evidence for viewing: checked, recorded, and on flagged cases IA is told."""
    st = state(ctx)
    _print(st, evidence_svc.open_evidence(st.vault, st.actor, evidence_id, reason=reason))


@app.command()
def alerts(ctx: typer.Context) -> None:
    """Alerts addressed to you: internal affairs (e.g. sensitive evidence opened), command
    staff (a policy decision overridden), records (a hold that no longer stands)."""
    st = state(ctx)
    rows = evidence_svc.list_alerts(st.vault, st.actor)
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "Alerts",
            ["at", "kind", "actor", "case", "evidence", "reason", "audit seq"],
            [
                [
                    r["at"],
                    r["kind"],
                    r["actor"],
                    r["case"],
                    r["evidence_id"],
                    r["reason"],
                    r["audit_seq"],
                ]
                for r in rows
            ],
        )


# --------------------------------------------------------------------------- export


@app.command("export")
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
    with output.count_progress("export", st.json) as (set_total, advance):
        result = export_svc.export_evidence(
            st.vault,
            st.actor,
            evidence_id,
            recipient=recipient,
            purpose=purpose,
            start=start,
            end=end,
            out=out,
            height=height,
            visible_mark=visible_mark,
            progress=advance,
            on_total=set_total,
        )
    _print(
        st,
        result,
        f"Export [bold]{result['export_id']}[/] for {result['recipient']}: {result['path']} "
        f"({result['frames']} frames, sha256 {result['sha256'][:16]}…)",
    )


@app.command("exports")
def exports_list(
    ctx: typer.Context,
    evidence: Annotated[str | None, typer.Option("--evidence", help="Only this evidence.")] = None,
) -> None:
    """List exports on record (who received which copy, when, why)."""
    from custodes.services import exports as export_svc

    st = state(ctx)
    rows = export_svc.list_exports(st.vault, st.actor, evidence)
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "Exports",
            ["export", "evidence", "recipient", "purpose", "by", "at", "range"],
            [
                [
                    r["export_id"],
                    r["evidence_id"],
                    r["recipient"],
                    r["purpose"],
                    r["actor"],
                    r["created_at"][:19],
                    f"{r['start_s']:.1f}-{r['end_s']:.1f}s",
                ]
                for r in rows
            ],
        )


@app.command("trace")
def trace_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The leaked clip.")],
    case: Annotated[
        str | None, typer.Option("--case", help="Search only this case's evidence.")
    ] = None,
    report_dir: Annotated[
        Path | None, typer.Option("--report-dir", help="Where to write the HTML and PDF report.")
    ] = None,
) -> None:
    """Find which evidence and seconds a leaked clip shows, and which copy it came from."""
    from custodes.services import trace as trace_svc

    st = state(ctx)
    with output.multi_progress(st.json) as start:
        result = trace_svc.trace_leak(
            st.vault, st.actor, file, case_number=case, report_dir=report_dir, progress=start
        )
    if st.json:
        output.emit_json(result)
        return
    src = result["source"]
    if src is None:
        output.console.print("[yellow]Source not found[/]: this footage is not in the vault.")
    else:
        output.console.print(
            f"Source: [bold]{src['evidence_id']}[/] (case {src['case']}) from "
            f"{src['offset_s']:.1f} s for {src['duration_s']:.1f} s."
        )
        output.table(
            "Candidate copies",
            ["export", "recipient", "score", "p-value", "named"],
            [
                [
                    c["export_id"],
                    c["recipient"],
                    f"{c['score']:.1f}",
                    f"{c['p_value']:.2g}",
                    "YES" if c["attributed"] else "",
                ]
                for c in result["candidates"]
            ],
        )
        verdict = result["verdict"]
        output.console.print(f"Verdict: [bold]{verdict}[/]")
    output.console.print(f"Report: {result['report']['html']} and .pdf")


# --------------------------------------------------------------------------- requests


@app.command("index")
def index_cmd(
    ctx: typer.Context,
    case: Annotated[str | None, typer.Option("--case", help="Only this case's evidence.")] = None,
) -> None:
    """Fingerprint evidence not yet fingerprinted, so that traces need not (run after
    ingest, e.g. nightly: about 75 s of CPU per hour of 640x360 video)."""
    from custodes.services import trace as trace_svc

    st = state(ctx)
    with output.multi_progress(st.json) as start:
        result = trace_svc.index_evidence(st.vault, st.actor, case_number=case, progress=start)
    _print(
        st,
        result,
        f"Fingerprinted {len(result['indexed'])} evidence item(s); "
        f"{result['already_indexed']} of {result['evidence']} were already indexed.",
    )


@evidence_app.command("flag")
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
    unflag: Annotated[list[str] | None, typer.Option(help="Remove a flag.")] = None,
    reason: Annotated[
        str | None,
        typer.Option(help="Why (recorded in the audit log; required with --flag and --unflag)."),
    ] = None,
) -> None:
    """Record what a recording shows (read by the policy pack)."""
    from custodes.services import requests as req_svc

    st = state(ctx)
    out = req_svc.set_evidence_flags(
        st.vault, st.actor, evidence_id, flag=flag or [], unflag=unflag or [], reason=reason
    )
    _print(st, out, f"{evidence_id}: {', '.join(out['flags']) or 'no flags'}.")
    _print_holds_reviewed(st, out)


@request_app.command("add")
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
    out = req_svc.add_request(
        st.vault,
        st.actor,
        case,
        requester=requester,
        kind=kind,
        evidence=evidence or [],
        received_at=received_at,
        misconduct_complaint=misconduct_complaint,
        ranges=range_ or [],
        allegation_on=allegation_on,
        incident_on=incident_on,
        critical_incident=critical_incident,
    )
    _print(st, out, f"Request [bold]{out['request_id']}[/] recorded; due {out['due']}.")


@request_app.command("list")
def request_list(
    ctx: typer.Context,
    open_: Annotated[bool, typer.Option("--open", help="Only undecided or held.")] = False,
    due_before: Annotated[str | None, typer.Option(help="Only due before this date.")] = None,
) -> None:
    """List release requests you may see."""
    from custodes.services import requests as req_svc

    st = state(ctx)
    rows = req_svc.list_requests(st.vault, st.actor, open_only=open_, due_before=due_before)
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "Release requests",
            ["request", "case", "requester", "kind", "received", "due", "status"],
            [
                [
                    r["request_id"],
                    r["case"],
                    r["requester"],
                    r["kind"],
                    r["received_at"],
                    r["due"],
                    r["status"],
                ]
                for r in rows
            ],
        )


@request_app.command("show")
def request_show(ctx: typer.Context, request_id: str) -> None:
    """Show a request and its decisions."""
    from custodes.services import requests as req_svc

    st = state(ctx)
    _print(st, req_svc.show_request(st.vault, st.actor, request_id))


@request_app.command("decide")
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
        st.vault,
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
    verb = "Recorded" if out["recorded"] else "Proposed"
    output.console.print(f"{verb}: [bold]{out['outcome']}[/] (pack {out['pack_sha256'][:12]}…)")
    for r in out["rules"]:
        output.console.print(f"  {r['id']}  [italic]{r['citation']}[/]  reads {r['reads']}")
    if out.get("review_at"):
        output.console.print(f"  review at {out['review_at']}")


@request_app.command("letter")
def request_letter(
    ctx: typer.Context,
    request_id: str,
    out: Annotated[Path, typer.Option("--out", help="Folder for the HTML and PDF letter.")],
) -> None:
    """Write the letter to the requester for the latest recorded decision."""
    from custodes.services import requests as req_svc

    st = state(ctx)
    result = req_svc.write_letter(st.vault, st.actor, request_id, out)
    _print(st, result, f"Letter written: {result['html']} and {result['pdf']}")


@request_app.command("release")
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
            help="A reviewed redaction (RD-..., from `custodes redact`) to release for its "
            "evidence instead of redacting anew; repeatable.",
        ),
    ] = None,
) -> None:
    """Make the package the recorded decision allows: copies with signed Content
    Credentials (C2PA), a manifest of hashes and lineage, and the letter."""
    from custodes.services import redaction as red_svc

    st = state(ctx)
    with output.count_progress("release", st.json) as (_set_total, advance):
        result = red_svc.release_request(
            st.vault, st.actor, request_id, out, redactions=redaction or (), progress=advance
        )
    _print(st, result, f"Released {len(result['files'])} file(s); manifest {result['manifest']}")


@request_app.command("review-due")
def request_review_due(ctx: typer.Context) -> None:
    """Re-evaluate held requests whose review date came or whose facts changed."""
    from custodes.services import requests as req_svc

    st = state(ctx)
    rows = req_svc.review_due(st.vault, st.actor)
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "Held requests to review",
            ["request", "case", "review at", "now proposed", "changed"],
            [
                [r["request_id"], r["case"], r["review_at"], r["proposed"], r["changed"]]
                for r in rows
            ],
        )


@app.command("redact")
def redact_cmd(
    ctx: typer.Context,
    evidence_id: str,
    faces: Annotated[bool, typer.Option("--faces", help="Blur every face, tracked.")] = False,
    region: Annotated[
        list[str] | None,
        typer.Option(help="A box to track and blur: T:X,Y,W,H[:label] (seconds, pixels)."),
    ] = None,
    mute: Annotated[
        list[str] | None,
        typer.Option(help="Mute the audio over START-END seconds, within the recording."),
    ] = None,
    bleep: Annotated[bool, typer.Option(help="A tone instead of silence.")] = False,
    style: Annotated[str, typer.Option(help="blur or box.")] = "blur",
    sidecar: Annotated[
        Path | None, typer.Option(help="A reviewed boxes file to apply instead of detecting.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output .mp4 (default EV-...-redacted.mp4).")
    ] = None,
    face_model: Annotated[
        str,
        typer.Option(
            help="centerface (the default), centerface-int8 (plans 1.4-2x faster) or"
            " retinaface (plans 1.7-1.9x faster); both faster ones miss faces of 8-12 px"
            " (bench/bench_redact.py). float32 and int8 are older names of the first two."
        ),
    ] = "centerface",
    reason: Annotated[
        str | None,
        typer.Option(help="Why (recorded; required on flagged cases, which alert IA)."),
    ] = None,
) -> None:
    """Make a redacted derivative (the original never changes), with a sidecar to review."""
    from custodes.services import redaction as red_svc

    st = state(ctx)
    with output.count_progress("redact", st.json) as (_set_total, advance):
        result = red_svc.redact_evidence(
            st.vault,
            st.actor,
            evidence_id,
            faces=faces,
            regions=region or [],
            mute=mute or [],
            bleep=bleep,
            style=style,
            sidecar=sidecar,
            out=out,
            progress=advance,
            face_model=face_model,
            reason=reason,
        )
    _print(
        st,
        result,
        f"Redacted copy {result['derivative_id']}: {result['path']} "
        f"({result['frames_redacted']} frames redacted); review {result['contact_sheet']}",
    )


# --------------------------------------------------------------------------- verify


@app.command()
def verify(
    ctx: typer.Context,
    skip_blobs: Annotated[
        bool, typer.Option("--skip-blobs", help="Check only the audit log.")
    ] = False,
) -> None:
    """Re-hash every blob and re-check the whole audit log; exit 0 only if all is well."""
    st = state(ctx)
    with output.multi_progress(st.json) as start:
        out = verify_svc.verify_vault(st.vault, st.actor, blobs=not skip_blobs, progress=start)
    if st.json:
        output.emit_json(out)
    elif out["ok"]:
        output.console.print(
            f"[green]OK[/]: {out['events']} audit events, {out['checkpoints_checked']} signed "
            f"checkpoints, {out['blobs']} blobs checked."
        )
    else:
        output.table(
            f"{len(out['problems'])} problem(s) found",
            ["kind", "detail"],
            [[p["kind"], p["detail"]] for p in out["problems"]],
        )
    if not out["ok"]:
        kinds = sorted({p["kind"] for p in out["problems"]})
        print(
            f"custodes: error: verify found {len(out['problems'])} problem(s): {', '.join(kinds)}",
            file=sys.stderr,
        )
        raise typer.Exit(7)


# --------------------------------------------------------------------------- audit


@audit_app.callback()
def audit_list(
    ctx: typer.Context,
    evidence: Annotated[str | None, typer.Option("--evidence", help="Only this evidence.")] = None,
    case: Annotated[str | None, typer.Option("--case", help="Only this case.")] = None,
    limit: Annotated[
        int | None, typer.Option(help="Only the last N events (N of 1 or more).")
    ] = None,
) -> None:
    """List audit events (with no subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    from custodes.services import events as event_svc

    st = state(ctx)
    rows = event_svc.list_audit(
        st.vault, st.actor, evidence_id=evidence, case_number=case, limit=limit
    )
    if st.json:
        output.emit_json(rows)
    else:
        output.table(
            "Audit log",
            ["seq", "at", "actor", "action", "case", "evidence", "reason"],
            [
                [
                    r["seq"],
                    r["at"][:19],
                    r["actor"],
                    r["action"],
                    r["case"],
                    r["evidence"],
                    r["reason"],
                ]
                for r in rows
            ],
        )


@audit_app.command("prove")
def audit_prove(
    ctx: typer.Context,
    seq: int,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the proof to this new file (never overwritten)."),
    ] = None,
    tree_size: Annotated[
        int | None, typer.Option(help="Prove against this signed checkpoint size.")
    ] = None,
) -> None:
    """An inclusion proof of event SEQ, checkable with only the vault's public key."""
    st = state(ctx)
    if out is not None:
        check_new_file(out)
    bundle = proof_svc.prove_inclusion(st.vault, st.actor, seq, tree_size)
    _emit_bundle(st, bundle, out)


@audit_app.command("consistency")
def audit_consistency(
    ctx: typer.Context,
    old_size: int,
    new_size: Annotated[int | None, typer.Argument()] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the proof to this new file (never overwritten)."),
    ] = None,
) -> None:
    """A consistency proof that checkpoint OLD_SIZE is a prefix of NEW_SIZE (default newest)."""
    st = state(ctx)
    if out is not None:
        check_new_file(out)
    bundle = proof_svc.prove_consistency(st.vault, st.actor, old_size, new_size)
    _emit_bundle(st, bundle, out)


def _emit_bundle(st: State, bundle: dict[str, Any], out: Path | None) -> None:
    if out is None:
        output.emit_json(bundle)
        return
    dump_json(bundle, out)
    _print(st, {"path": str(out), "format": bundle["format"]}, f"Proof written to {out}.")


MAX_PROOF_BYTES = 16 * 1024 * 1024  # a proof of a billion-event log is a few kilobytes


@audit_app.command("verify-proof")
def audit_verify_proof(
    ctx: typer.Context,
    file: Path,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="The vault's public key (vkey string or a file holding it). Without it, the "
            "key of the vault at --home is used.",
        ),
    ] = None,
) -> None:
    """Check a proof file with nothing but the public key. Needs no vault database."""
    from custodes.core import jsontext

    st = state(ctx)
    try:
        if file.stat().st_size > MAX_PROOF_BYTES:
            raise InvalidInput(f"not a proof bundle: {file} is larger than {MAX_PROOF_BYTES} bytes")
        data = file.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {file}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror or exc}") from exc
    bundle = jsontext.loads(data, "not a proof bundle", max_bytes=MAX_PROOF_BYTES)
    if key is None:
        vkey_str = bootstrap.read_vault_file(st.settings.home).get("vkey")
        if not vkey_str:
            raise InvalidInput("no public key: pass --key")
    else:
        key_path = Path(key)
        try:
            vkey_str = key_path.read_text().strip() if key_path.is_file() else key
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read the key file {key_path}: {exc}") from exc
    result = proof_svc.verify_bundle(bundle, vkey_str, bootstrap.verify_signature)
    _print(st, result, f"[green]Proof verifies[/]: {result['kind']} in {result['origin']}.")


@audit_app.command("pubkey")
def audit_pubkey(ctx: typer.Context) -> None:
    """Print the vault's public key (a signed-note verifier key)."""
    st = state(ctx)
    vkey_str = bootstrap.read_vault_file(st.settings.home)["vkey"]
    if st.json:
        output.emit_json({"vkey": vkey_str})
    else:
        print(vkey_str)


@audit_app.command("checkpoint")
def audit_checkpoint(ctx: typer.Context) -> None:
    """Print the newest signed checkpoint (C2SP tlog-checkpoint, signed note)."""
    st = state(ctx)
    path = st.settings.home / bootstrap.CHECKPOINT_FILE
    try:
        note = path.read_text()
    except FileNotFoundError:
        raise InvalidInput(f"no checkpoint at {path}") from None
    if st.json:
        output.emit_json({"checkpoint": note})
    else:
        sys.stdout.write(note)


# --------------------------------------------------------------------------- provenance


def _read_anchors(path: Path) -> bytes:
    """PEM root certificates to trust, checked here so that a wrong file is named as
    such (not blamed on the copy being checked). A private key is refused outright."""
    from cryptography import x509

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    if b"PRIVATE KEY-----" in data:
        raise InvalidInput(
            f"{path} holds a private key: --anchors takes root certificates only "
            "(and a private key should not be passed around)"
        )
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise InvalidInput(f"{path} holds no PEM certificate (--anchors takes root certificates)")
    return data


@app.command("provenance")
def provenance_cmd(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="A released copy (MP4) to check.")] = None,
    anchors: Annotated[
        Path | None,
        typer.Option(
            "--anchors",
            help="PEM root certificate(s) to trust (default: this vault's own root, if any).",
        ),
    ] = None,
    root: Annotated[
        bool, typer.Option("--root", help="Print this vault's root certificate (to publish).")
    ] = False,
) -> None:
    """Read and check a copy's Content Credentials (C2PA): signer, lineage, redactions.

    Exit 0 only when the manifest validates and its signer chains to a trusted root;
    exit 7 when it is invalid (the file was changed after signing) or untrusted."""
    from custodes.core.errors import IntegrityFailure
    from custodes.media.provenance import read_credentials

    st = state(ctx)
    if root and file is not None:
        raise InvalidInput("give either a FILE to check or --root, not both")
    if root:
        pem = st.vault.content_credential().anchors_pem
        if st.json:
            output.emit_json({"root_pem": pem.decode()})
        else:
            sys.stdout.write(pem.decode())
        return
    if file is None:
        raise InvalidInput("give a FILE to check, or --root")
    if anchors is not None:
        anchors_pem: bytes | None = _read_anchors(anchors)
    else:
        anchors_pem = _vault_anchors(st.settings)
    report = read_credentials(file, anchors_pem)
    lin = report.get("lineage") or {}
    src = lin.get("source") or {}
    lines = [
        f"{file.name}: Content Credentials [bold]{report['state']}[/]",
        f"  signed by: {report['signer']['common_name']} ({report['signer']['issuer']}), "
        f"{report['signer']['alg']}, {report['signer']['time'] or 'no timestamp'}",
        f"  derives from: evidence {src.get('evidence_id', '?')} (case {src.get('case', '?')}), "
        f"original sha256 {src.get('sha256', '?')}",
        *(
            f"  {a['action']}: {a['description']}" if a.get("description") else f"  {a['action']}"
            for a in report["actions"]
        ),
        *(f"  [red]failure[/] {f['code']}: {f['explanation']}" for f in report["failures"]),
    ]
    _print(st, report, "\n".join(lines))
    if report["state"] == "Invalid":
        codes = ", ".join(str(f["code"]) for f in report["failures"][:3])
        raise IntegrityFailure(f"{file.name}: Content Credentials do not validate ({codes})")
    if not report["trusted"]:
        raise IntegrityFailure(
            f"{file.name}: signature valid, but its signer does not chain to a trusted root "
            "(pass the department's root with --anchors)"
        )


def _vault_anchors(settings: Settings) -> bytes | None:
    """This vault's C2PA root(s), without making any: None when it has none yet."""
    from custodes.storage.credentials import FOLDER, ROOT_FILE

    for path in (settings.c2pa_trust_anchors, settings.home / FOLDER / ROOT_FILE):
        if path is not None and path.is_file():
            return path.read_bytes()
    if settings.c2pa_cert is not None and settings.c2pa_cert.is_file():
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        try:
            chain = x509.load_pem_x509_certificates(settings.c2pa_cert.read_bytes())
        except ValueError:
            raise InvalidInput(f"{settings.c2pa_cert} is not a PEM certificate chain") from None
        return chain[-1].public_bytes(serialization.Encoding.PEM)
    return None


# --------------------------------------------------------------------------- demo


@app.command()
def demo(ctx: typer.Context) -> None:
    """The whole story on a fresh embedded vault, start to finish."""
    from custodes.demo import run_demo

    st = state(ctx)
    summary = run_demo(st.settings, quiet=st.json)
    if st.json:
        output.emit_json(summary)


def main() -> None:
    run_with_errors(lambda: app(standalone_mode=False))


if __name__ == "__main__":  # pragma: no cover
    main()
