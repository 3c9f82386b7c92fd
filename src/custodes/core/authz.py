"""Authorization: the one place that decides whether an actor may do something.

Deny by default. A role grants permissions; case-scoped permissions then need the
actor to be within the case's reach:

* officers reach cases they are assigned to, and evidence they recorded (that
  evidence only: ingesting into a case needs assignment to it, whoever recorded it);
* prosecutors reach cases assigned to them and cases in or past prosecution;
* supervisors, records, internal affairs and admins reach every case, except that a
  case flagged ``ia-investigation`` is reachable only by internal affairs and by
  people assigned to the case (never by the officer under investigation by role alone).

Opening evidence of a case flagged sensitive, juvenile or victim-privacy (viewing,
exporting or redacting it) needs a stated reason, and raises an alert for internal
affairs.

Every CLI command, web route and job asks :func:`authorize`; nothing else decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from custodes.core.errors import InvalidInput, PermissionDenied, ReasonRequired


class Role(StrEnum):
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    RECORDS = "records"
    PROSECUTOR = "prosecutor"
    INTERNAL_AFFAIRS = "internal-affairs"
    ADMIN = "admin"


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


REASON_FLAGS = frozenset({CaseFlag.SENSITIVE, CaseFlag.JUVENILE, CaseFlag.VICTIM_PRIVACY})


class Permission(StrEnum):
    """``scope:resource:action``."""

    USER_ADD = "vault:user:add"
    USER_LIST = "vault:user:list"
    CASE_ADD = "vault:case:add"
    CASE_VIEW = "case:case:view"
    CASE_SET_STATUS = "case:case:set-status"
    CASE_SET_FLAGS = "case:case:set-flags"
    CASE_ASSIGN = "case:case:assign"
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
    REQUEST_ADD = "case:request:add"
    REQUEST_VIEW = "case:request:view"
    REQUEST_DECIDE = "case:request:decide"
    REQUEST_RELEASE = "case:request:release"


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
            P.AUDIT_READ,
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
            P.AUDIT_PROVE,
            P.VAULT_VERIFY,
            P.ALERTS_READ,
            P.LEAK_TRACE,
            P.EVIDENCE_FLAG,
            P.EVIDENCE_REDACT,
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
            P.EVIDENCE_LIST,
            P.EVIDENCE_VIEW,
            P.EVIDENCE_EXPORT,
            P.AUDIT_READ,
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
            P.CASE_ADD,
            P.CASE_VIEW,
            P.CASE_SET_STATUS,
            P.CASE_SET_FLAGS,
            P.CASE_ASSIGN,
            P.EVIDENCE_INGEST,
            P.EVIDENCE_LIST,
            P.EVIDENCE_VIEW,
            P.AUDIT_READ,
            P.AUDIT_PROVE,
            P.VAULT_VERIFY,
            P.ALERTS_READ,
        }
    ),
}

CASE_SCOPED = frozenset(p for p in Permission if p.value.startswith("case:"))
# Permissions that show the footage itself: on a flagged case they need a reason and alert.
OPENING = frozenset({P.EVIDENCE_VIEW, P.EVIDENCE_EXPORT, P.EVIDENCE_REDACT})
PROSECUTION_STATUSES = frozenset({CaseStatus.PENDING_PROSECUTION, CaseStatus.ADJUDICATED})
ALL_CASES_ROLES = frozenset({Role.SUPERVISOR, Role.RECORDS, Role.INTERNAL_AFFAIRS, Role.ADMIN})


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
        if actor.role is Role.INTERNAL_AFFAIRS or member:
            return True, "internal affairs or assigned to the case"
        return False, f"case {case.number} is under internal-affairs investigation"
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


#: Alerts are addressed to an audience. Internal affairs and admins read every alert;
#: records custodians read only the alerts addressed to them (e.g. a hold that no longer
#: stands), and only on cases they reach.
ALL_ALERTS_ROLES = frozenset({Role.INTERNAL_AFFAIRS, Role.ADMIN})


def may_read_alert(actor: Actor, audience: str, case: CaseFacts | None) -> bool:
    """Whether ``actor`` may read one alert (on top of ``vault:alerts:read``)."""
    if not decide(actor, Permission.ALERTS_READ).allowed:
        return False
    if actor.role in ALL_ALERTS_ROLES:
        return True
    if audience != actor.role.value:
        return False
    return case is None or decide(actor, Permission.CASE_VIEW, case).allowed


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
    """Only internal affairs (and admins) raise or lower an ia-investigation flag."""
    if flag is CaseFlag.IA_INVESTIGATION:
        return actor.role in (Role.INTERNAL_AFFAIRS, Role.ADMIN)
    return True
