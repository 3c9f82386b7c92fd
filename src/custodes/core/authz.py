"""Authorization: the one place that decides whether an actor may do something.

Deny by default. A role grants permissions; case-scoped permissions then need the
actor to be within the case's reach:

* officers reach cases they are assigned to, and evidence they recorded (that
  evidence only: ingesting into a case needs assignment to it, whoever recorded it);
* prosecutors reach cases assigned to them and cases in or past prosecution;
* supervisors, records, command staff, internal affairs and admins reach every case,
  except that a case flagged ``ia-investigation`` is reachable only by internal affairs
  and by people assigned to the case (never by the officer under investigation by role
  alone);
* an officer assigned to a case flagged ``ia-investigation`` loses reach to it (the
  subject of an investigation does not keep access to its evidence) until internal
  affairs restores it, on record (``CaseFacts.restored``).

The audit events and exports of a case flagged ``ia-investigation`` are read only by
internal affairs, admins and people assigned to the case (``case:audit:read``).

Alerts are addressed to an audience (:class:`AlertAudience`); which audiences an alert
of each kind goes to, and who reads each audience, is decided here too
(:func:`alert_audiences`, :func:`decide_alert`).

Opening evidence of a case flagged sensitive, juvenile or victim-privacy (viewing,
exporting or redacting it) needs a stated reason, and raises an alert for internal
affairs.

Every CLI command, web route and job asks :func:`authorize`; nothing else decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from custodes.core.errors import CustodyConflict, InvalidInput, PermissionDenied, ReasonRequired


class Role(StrEnum):
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    RECORDS = "records"
    PROSECUTOR = "prosecutor"
    INTERNAL_AFFAIRS = "internal-affairs"
    ADMIN = "admin"
    COMMAND = "command"  # command staff: a chief, a commander


class CaseStatus(StrEnum):
    OPEN = "open"
    PENDING_PROSECUTION = "pending-prosecution"
    ADJUDICATED = "adjudicated"
    CLOSED = "closed"


class CaseFlag(StrEnum):
    SENSITIVE = "sensitive"
    JUVENILE = "juvenile"
    VICTIM_PRIVACY = "victim-privacy"
    IA_INVESTIGATION = "ia-investigation"
    # A litigation hold: the case's originals carry a legal hold in the blob store (S3
    # Object Lock), which keeps them past their retention until it is lifted.
    LEGAL_HOLD = "legal-hold"


REASON_FLAGS = frozenset({CaseFlag.SENSITIVE, CaseFlag.JUVENILE, CaseFlag.VICTIM_PRIVACY})


class Permission(StrEnum):
    """``scope:resource:action``."""

    USER_ADD = "vault:user:add"
    USER_LIST = "vault:user:list"
    # List and end anyone's web sessions; create, list and revoke anyone's API tokens
    # (everyone manages their own).
    ACCESS_MANAGE = "vault:access:manage"
    CASE_ADD = "vault:case:add"
    CASE_VIEW = "case:case:view"
    CASE_SET_STATUS = "case:case:set-status"
    CASE_SET_FLAGS = "case:case:set-flags"
    CASE_ASSIGN = "case:case:assign"
    CASE_RESTORE_REACH = "case:case:restore-reach"
    CASE_AUDIT_READ = "case:audit:read"  # a case's audit events and exports
    EVIDENCE_INGEST = "case:evidence:ingest"
    EVIDENCE_LIST = "case:evidence:list"
    EVIDENCE_VIEW = "case:evidence:view"
    EVIDENCE_EXPORT = "case:evidence:export"
    AUDIT_READ = "vault:audit:read"
    AUDIT_PROVE = "vault:audit:prove"
    VAULT_VERIFY = "vault:vault:verify"
    ALERTS_READ = "vault:alerts:read"
    LEAK_TRACE = "vault:leak:trace"
    EVIDENCE_FLAG = "case:evidence:flag"
    EVIDENCE_REDACT = "case:evidence:redact"
    # A person states that a redacted copy was reviewed and what it covers (issue 22).
    REDACTION_ACCEPT = "case:evidence:accept-redaction"
    REQUEST_ADD = "case:request:add"
    REQUEST_VIEW = "case:request:view"
    REQUEST_DECIDE = "case:request:decide"
    REQUEST_RELEASE = "case:request:release"
    # Where an original is kept in the blob store (a path, an s3:// URL): for admins, who
    # run the store; everyone else opens evidence only through the vault.
    BLOB_LOCATE = "vault:blob:locate"
    POLICY_SET = "vault:policy:set"  # choose the policy pack in force
    # Copy the whole vault (database, blobs, keys) into a backup folder (issue 19).
    VAULT_BACKUP = "vault:vault:backup"
    # See and cancel anyone's jobs (everyone sees and cancels their own; readers of a
    # case's record see the jobs about it).
    JOB_MANAGE = "vault:job:manage"


P = Permission

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OFFICER: frozenset({P.CASE_VIEW, P.EVIDENCE_INGEST, P.EVIDENCE_LIST, P.EVIDENCE_VIEW}),
    Role.SUPERVISOR: frozenset(
        {
            P.CASE_ADD,
            P.CASE_VIEW,
            P.CASE_SET_STATUS,
            P.CASE_ASSIGN,
            P.EVIDENCE_INGEST,
            P.EVIDENCE_LIST,
            P.EVIDENCE_VIEW,
            P.EVIDENCE_EXPORT,
            P.EVIDENCE_FLAG,
            P.EVIDENCE_REDACT,
            P.REDACTION_ACCEPT,
            P.AUDIT_READ,
            P.CASE_AUDIT_READ,
            P.VAULT_VERIFY,
            P.REQUEST_VIEW,
        }
    ),
    Role.RECORDS: frozenset(
        {
            P.CASE_ADD,
            P.CASE_VIEW,
            P.CASE_SET_STATUS,
            P.CASE_SET_FLAGS,
            P.CASE_ASSIGN,
            P.EVIDENCE_INGEST,
            P.EVIDENCE_LIST,
            P.EVIDENCE_VIEW,
            P.EVIDENCE_EXPORT,
            P.AUDIT_READ,
            P.CASE_AUDIT_READ,
            P.AUDIT_PROVE,
            P.VAULT_VERIFY,
            P.ALERTS_READ,
            P.LEAK_TRACE,
            P.EVIDENCE_FLAG,
            P.EVIDENCE_REDACT,
            P.REDACTION_ACCEPT,
            P.REQUEST_ADD,
            P.REQUEST_VIEW,
            P.REQUEST_DECIDE,
            P.REQUEST_RELEASE,
        }
    ),
    Role.PROSECUTOR: frozenset({P.CASE_VIEW, P.EVIDENCE_LIST, P.EVIDENCE_VIEW, P.EVIDENCE_EXPORT}),
    Role.INTERNAL_AFFAIRS: frozenset(
        {
            P.CASE_VIEW,
            P.CASE_SET_FLAGS,
            P.CASE_RESTORE_REACH,
            P.EVIDENCE_LIST,
            P.EVIDENCE_VIEW,
            P.EVIDENCE_EXPORT,
            P.AUDIT_READ,
            P.CASE_AUDIT_READ,
            P.AUDIT_PROVE,
            P.VAULT_VERIFY,
            P.ALERTS_READ,
            P.LEAK_TRACE,
            P.REQUEST_VIEW,
        }
    ),
    Role.ADMIN: frozenset(
        {
            P.USER_ADD,
            P.USER_LIST,
            P.ACCESS_MANAGE,
            P.CASE_ADD,
            P.CASE_VIEW,
            P.CASE_SET_STATUS,
            P.CASE_SET_FLAGS,
            P.CASE_ASSIGN,
            P.EVIDENCE_INGEST,
            P.EVIDENCE_LIST,
            P.EVIDENCE_VIEW,
            P.AUDIT_READ,
            P.CASE_AUDIT_READ,
            P.AUDIT_PROVE,
            P.VAULT_VERIFY,
            P.ALERTS_READ,
            P.BLOB_LOCATE,
            P.POLICY_SET,
            P.VAULT_BACKUP,
            P.JOB_MANAGE,
        }
    ),
    # Command staff oversee: they read the alerts addressed to command and view cases and
    # requests; they export, ingest and redact nothing.
    Role.COMMAND: frozenset({P.CASE_VIEW, P.REQUEST_VIEW, P.ALERTS_READ}),
}

CASE_SCOPED = frozenset(p for p in Permission if p.value.startswith("case:"))
# Permissions that show the footage itself: on a flagged case they need a reason and alert.
OPENING = frozenset({P.EVIDENCE_VIEW, P.EVIDENCE_EXPORT, P.EVIDENCE_REDACT})
PROSECUTION_STATUSES = frozenset({CaseStatus.PENDING_PROSECUTION, CaseStatus.ADJUDICATED})
ALL_CASES_ROLES = frozenset(
    {Role.SUPERVISOR, Role.RECORDS, Role.COMMAND, Role.INTERNAL_AFFAIRS, Role.ADMIN}
)
#: Who may be the subject of an internal-affairs investigation and so loses reach to a
#: case flagged ``ia-investigation`` although assigned to it, until IA restores it.
INVESTIGATED_ROLES = frozenset({Role.OFFICER})
#: Who reads the audit record (events, exports) of every case flagged ia-investigation.
IA_RECORD_ROLES = frozenset({Role.INTERNAL_AFFAIRS, Role.ADMIN})


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role '{text}' (roles: {names})") from None


def parse_status(text: str) -> CaseStatus:
    try:
        return CaseStatus(text)
    except ValueError:
        names = ", ".join(s.value for s in CaseStatus)
        raise InvalidInput(f"unknown case status '{text}' (statuses: {names})") from None


def parse_flag(text: str) -> CaseFlag:
    try:
        return CaseFlag(text)
    except ValueError:
        names = ", ".join(f.value for f in CaseFlag)
        raise InvalidInput(f"unknown case flag '{text}' (flags: {names})") from None


@dataclass(frozen=True)
class Actor:
    username: str
    role: Role


@dataclass(frozen=True)
class CaseFacts:
    """What authorization needs to know of a case."""

    number: str
    status: CaseStatus
    flags: frozenset[CaseFlag]
    members: frozenset[str]  # usernames assigned to the case
    # Officers assigned to the case whose reach internal affairs restored, on record,
    # while the case is under investigation.
    restored: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EvidenceFacts:
    evidence_id: str
    officer: str | None  # username of the officer who recorded it


@dataclass(frozen=True)
class Decision:
    allowed: bool
    why: str
    reason_required: bool = False
    alert: bool = False  # internal affairs must be told


def _reaches(actor: Actor, case: CaseFacts, ev: EvidenceFacts | None) -> tuple[bool, str]:
    member = actor.username in case.members
    own = ev is not None and ev.officer == actor.username
    if CaseFlag.IA_INVESTIGATION in case.flags:
        if actor.role is Role.INTERNAL_AFFAIRS:
            return True, "internal affairs"
        if not member:
            return False, f"case {case.number} is under internal-affairs investigation"
        if actor.role in INVESTIGATED_ROLES and actor.username not in case.restored:
            return False, (
                f"case {case.number} is under internal-affairs investigation: "
                f"{actor.role.value} {actor.username} lost reach to it until internal "
                "affairs restores it"
            )
        return True, "assigned to the case"
    if actor.role in ALL_CASES_ROLES:
        return True, f"role {actor.role.value} reaches every case"
    if actor.role is Role.OFFICER:
        if member or own:
            return True, "assigned to the case" if member else "recorded this evidence"
        return False, f"officer {actor.username} is not assigned to case {case.number}"
    if actor.role is Role.PROSECUTOR:
        if member or case.status in PROSECUTION_STATUSES:
            return True, "assigned or case in prosecution"
        return False, f"case {case.number} is not before a prosecutor"
    return False, "no rule grants this"


def _reads_case_record(actor: Actor, case: CaseFacts | None) -> Decision:
    """The audit events and exports of a case: of an IA case, only IA, admins and the
    people assigned to it read them (an officer under investigation holds no audit
    permission at all); of any other case, whoever reads the audit log."""
    if case is None:
        return Decision(False, f"{P.CASE_AUDIT_READ.value} needs a case")
    if CaseFlag.IA_INVESTIGATION not in case.flags:
        return Decision(True, f"role {actor.role.value} reads the audit log")
    if actor.role in IA_RECORD_ROLES or actor.username in case.members:
        return Decision(True, "internal affairs, an admin, or assigned to the case")
    return Decision(
        False,
        f"case {case.number} is under internal-affairs investigation: its record is read "
        "only by internal affairs, admins and the people assigned to it",
    )


def decide(
    actor: Actor,
    permission: Permission,
    case: CaseFacts | None = None,
    evidence: EvidenceFacts | None = None,
    reason: str | None = None,
) -> Decision:
    """Pure decision; never raises. See the module docstring for the rules."""
    if permission not in ROLE_PERMISSIONS.get(actor.role, frozenset()):
        return Decision(False, f"role {actor.role.value} may not {permission.value}")
    if permission is P.CASE_AUDIT_READ:
        return _reads_case_record(actor, case)
    if permission in CASE_SCOPED:
        if case is None:
            return Decision(False, f"{permission.value} needs a case")
        # Recording a piece of evidence reaches that evidence, not its case: naming
        # yourself the recording officer of new footage must not open a case to you.
        ok, why = _reaches(actor, case, None if permission is P.EVIDENCE_INGEST else evidence)
        if not ok:
            return Decision(False, why)
        if permission in OPENING and case.flags & REASON_FLAGS:
            flagged = ", ".join(sorted(f.value for f in case.flags & REASON_FLAGS))
            if not (reason and reason.strip()):
                return Decision(
                    False,
                    f"case {case.number} is flagged {flagged}: state a reason ({{reason}})",
                    reason_required=True,
                )
            return Decision(True, f"{why}; reason stated for a {flagged} case", alert=True)
        return Decision(True, why)
    return Decision(True, f"role {actor.role.value} may {permission.value}")


def authorize(
    actor: Actor,
    permission: Permission,
    case: CaseFacts | None = None,
    evidence: EvidenceFacts | None = None,
    reason: str | None = None,
) -> Decision:
    """Like :func:`decide`, but raises PermissionDenied (or ReasonRequired) on a no."""
    decision = decide(actor, permission, case, evidence, reason)
    if not decision.allowed:
        if decision.reason_required:
            raise ReasonRequired(f"permission denied: {decision.why}")
        raise PermissionDenied(f"permission denied: {decision.why}")
    return decision


class AlertAudience(StrEnum):
    """Whom an alert is addressed to."""

    INTERNAL_AFFAIRS = "internal-affairs"
    COMMAND = "command"  # command staff: overrides of a policy decision
    RECORDS = "records"  # records custodians: a hold that no longer stands, a new pack


class AlertKind(StrEnum):
    SENSITIVE_ACCESS = "sensitive-access"
    SENSITIVE_EXPORT = "sensitive-export"
    SENSITIVE_REDACT = "sensitive-redact"
    LEAK_ATTRIBUTED = "leak-attributed"
    DECISION_OVERRIDE = "decision-override"
    HOLD_REVIEW = "hold-review"
    REQUEST_REREVIEW = "request-rereview"  # a new pack changes what a request gets


A = AlertAudience

#: Which audiences an alert of each kind is addressed to.
ALERT_AUDIENCES: dict[AlertKind, tuple[AlertAudience, ...]] = {
    AlertKind.SENSITIVE_ACCESS: (A.INTERNAL_AFFAIRS,),
    AlertKind.SENSITIVE_EXPORT: (A.INTERNAL_AFFAIRS,),
    AlertKind.SENSITIVE_REDACT: (A.INTERNAL_AFFAIRS,),
    AlertKind.LEAK_ATTRIBUTED: (A.INTERNAL_AFFAIRS,),
    AlertKind.DECISION_OVERRIDE: (A.INTERNAL_AFFAIRS, A.COMMAND),
    AlertKind.HOLD_REVIEW: (A.RECORDS,),
    AlertKind.REQUEST_REREVIEW: (A.RECORDS,),
}

#: Who reads each audience. Internal affairs and admins read every alert, on every case;
#: the others read only the alerts of their audience, and only on cases they reach.
AUDIENCE_READERS: dict[AlertAudience, frozenset[Role]] = {
    A.INTERNAL_AFFAIRS: frozenset({Role.INTERNAL_AFFAIRS, Role.ADMIN}),
    A.COMMAND: frozenset({Role.COMMAND, Role.INTERNAL_AFFAIRS, Role.ADMIN}),
    A.RECORDS: frozenset({Role.RECORDS, Role.INTERNAL_AFFAIRS, Role.ADMIN}),
}
ALL_ALERTS_ROLES = frozenset({Role.INTERNAL_AFFAIRS, Role.ADMIN})


def alert_audiences(kind: AlertKind) -> tuple[AlertAudience, ...]:
    """The audiences an alert of ``kind`` is addressed to."""
    return ALERT_AUDIENCES[kind]


def decide_alert(actor: Actor, audience: AlertAudience | str, case: CaseFacts | None) -> Decision:
    """May ``actor`` read one alert addressed to ``audience`` (about ``case``, if any)?

    Needs ``vault:alerts:read``; then the audience must be one the actor's role reads and,
    below internal affairs and admins, the case one the actor may view. An audience this
    module does not know is read by nobody but internal affairs and admins."""
    gate = decide(actor, Permission.ALERTS_READ)
    if not gate.allowed:
        return gate
    if actor.role in ALL_ALERTS_ROLES:
        return Decision(True, f"role {actor.role.value} reads every alert")
    try:
        readers = AUDIENCE_READERS[AlertAudience(audience)]
    except ValueError:
        readers = ALL_ALERTS_ROLES
    if actor.role not in readers:
        return Decision(False, f"alerts for {audience} are not for role {actor.role.value}")
    if case is not None:
        view = decide(actor, Permission.CASE_VIEW, case)
        if not view.allowed:
            return view
    return Decision(True, f"an alert for {audience} on a case role {actor.role.value} views")


def may_read_alert(actor: Actor, audience: AlertAudience | str, case: CaseFacts | None) -> bool:
    """Whether ``actor`` may read one alert (see :func:`decide_alert`)."""
    return decide_alert(actor, audience, case).allowed


#: Roles whose members wear a body camera: only they may be named as the officer who
#: recorded a piece of evidence (which lets them reach it).
RECORDING_ROLES = frozenset({Role.OFFICER, Role.SUPERVISOR})


def check_recording_officer(actor: Actor, username: str, role: Role) -> None:
    """May ``actor`` name ``username`` (of ``role``) as the one who recorded new evidence?

    Raise InvalidInput unless that user wears a camera, and PermissionDenied when an
    officer names someone else: being the recording officer reaches the evidence, and
    an officer may not hand that reach to a colleague (assigning people is not theirs).
    """
    if role not in RECORDING_ROLES:
        roles = " or ".join(sorted(r.value for r in RECORDING_ROLES))
        raise InvalidInput(
            f"'{username}' is {role.value}, not someone who records video: the recording "
            f"officer must be an {roles}"
        )
    if actor.role is Role.OFFICER and username != actor.username:
        raise PermissionDenied(
            f"permission denied: officer {actor.username} may ingest only footage they "
            f"recorded, not {username}'s"
        )


def can_flag(actor: Actor, flag: CaseFlag) -> bool:
    """Only internal affairs (and admins) raise or lower an ia-investigation flag; only
    records (and admins) a legal-hold."""
    if flag is CaseFlag.IA_INVESTIGATION:
        return actor.role in (Role.INTERNAL_AFFAIRS, Role.ADMIN)
    if flag is CaseFlag.LEGAL_HOLD:
        return actor.role in (Role.RECORDS, Role.ADMIN)
    return True


def check_reach_restorable(case: CaseFacts, username: str, role: Role) -> None:
    """May internal affairs restore ``username``'s reach to ``case`` (on top of the
    ``case:case:restore-reach`` permission)? Only reach that an investigation took away
    can be restored: the case must be flagged ia-investigation, the user one who loses
    reach to it (an officer), and not restored already."""
    if CaseFlag.IA_INVESTIGATION not in case.flags:
        raise CustodyConflict(
            f"case {case.number} is not under internal-affairs investigation: "
            "nobody's reach to it was withdrawn"
        )
    if role not in INVESTIGATED_ROLES:
        roles = ", ".join(sorted(r.value for r in INVESTIGATED_ROLES))
        raise InvalidInput(
            f"'{username}' is {role.value}: only the reach of an assigned {roles} is "
            "withdrawn by an investigation"
        )
    if username in case.restored:
        raise CustodyConflict(
            f"the reach of '{username}' to case {case.number} is restored already"
        )


def decide_job(
    actor: Actor, requested_by: str, case: CaseFacts | None, *, cancel: bool = False
) -> Decision:
    """Whether ``actor`` sees (or, with ``cancel``, cancels) a job ``requested_by`` asked
    for, about ``case`` (None: about no case). Everyone sees and cancels their own jobs;
    admins (``vault:job:manage``) see and cancel every job; whoever reads the audit record
    of the job's case sees it (the job's event is on that record anyway), and cancels
    nothing of another's."""
    if actor.username == requested_by:
        return Decision(True, "requested it")
    if P.JOB_MANAGE in ROLE_PERMISSIONS.get(actor.role, frozenset()):
        return Decision(True, f"role {actor.role.value} may {P.JOB_MANAGE.value}")
    if cancel:
        return Decision(False, f"a job of {requested_by}'s is cancelled only by them or an admin")
    if case is None:
        return decide(actor, P.AUDIT_READ)
    return decide(actor, P.CASE_AUDIT_READ, case)
