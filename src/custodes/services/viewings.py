"""Viewings: every playback in the browser is a marked copy made for its viewer (issue 18).

A *viewing* is a kind of export: made for one person (the viewer, who starts it), of one
evidence item and a range of it, with the reason stated where the case needs one. It is
authorised as opening the evidence is (``case:evidence:view``: on a case flagged
sensitive, juvenile or victim-privacy a reason is needed, and internal affairs is
alerted, exactly as ``evidence show`` and ``export`` ask), recorded by a signed
``viewing-started`` event that carries its range, frame size, mark parameters and
visible line (``core.ledger`` binds the ``viewings`` row to it), and keyed like an
export: the invisible mark's key is ``derive_key(secret, viewing id)``.

Its stream is an HLS playlist of MPEG-TS segments at fixed times (``media.hls``), each
rendered on demand from the original with the viewing's mark and a visible line naming
the viewer, the viewing and its start time. The original is never sent. Only the viewer
fetches the stream; anyone else is refused, on record. Rendered segments are kept for
reuse in the vault's cache folder (``<home>/cache/viewings/<id>/<n>.ts``): they are
derived, re-makeable data, not evidence, so they stay out of the content-addressed blob
store (which holds originals and copies on record and is checked by ``verify``).

What was sent is on record as ``viewing-range`` events: a run of consecutive segments is
recorded when it starts, then each time at least ``RANGE_RECORD_S`` seconds more of it
were sent, and its unrecorded tail when the next run starts (a seek). The tail of the
last run (under ``RANGE_RECORD_S``) is the only part of a stream sent and not on record
as a range; the ``viewing-started`` event records the whole range the viewer may watch.

A player fetches segments in order, so when a segment had to be rendered, the next
``PREFETCH`` are rendered into the cache on a background thread (one at a time for the
whole process) while the player plays it; a request for a segment being rendered waits
for that render rather than starting a second. A segment rendered ahead and never
fetched was never sent, so it is not on record as sent (nor needs to be).

``trace`` weighs viewings as it weighs exports: the viewer is the copy's recipient.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import BinaryIO

from custodes.core.authz import AlertKind, Permission
from custodes.core.custody import Action, decode_entry
from custodes.core.errors import (
    CustodesError,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from custodes.core.ledger import Ledger, ViewingState, differing, viewing_state
from custodes.core.records import Case, Evidence, SentRange, TracedCopy, Viewing
from custodes.core.watermark import MarkParams, derive_key
from custodes.media.hls import SegmentPlan, playlist, render_segment
from custodes.media.render import EncodeSettings, output_size
from custodes.services.common import new_id, now_iso, verified_original
from custodes.services.context import Context
from custodes.services.events import hidden_cases, record_filter
from custodes.services.evidence import alert_if_flagged, alert_note
from custodes.services.exports import KEY_VERSION, check_range, check_text
from custodes.services.usecase import UseCase, acting
from custodes.storage.uow import UnitOfWork

SEGMENT_S = 2.0
"""Seconds per segment: short, so that the first one is ready quickly and a seek
renders little; HLS players accept any fixed length."""
MAX_HEIGHT = 720
"""A viewing's frame height at most (the source's, when smaller)."""
VIEWING_TTL = timedelta(hours=12)
"""How long a viewing's stream may be fetched: a web session's longest life."""
RANGE_RECORD_S = 30.0
"""A run of segments sent is recorded again once this many more seconds were sent."""
SETTINGS = EncodeSettings(preset="ultrafast", crf=23)
"""How segments are encoded: H.264 and AAC as exports are, with x264's cheapest preset
(about half the CPU of ``veryfast`` at 720p, for about 2.8x the bits: a stream watched
on the vault's own network, rendered while the viewer waits; bench/bench_playback.py)."""

_VIEW = Permission.EVIDENCE_VIEW


@dataclass(frozen=True)
class StartViewing:
    """Start watching evidence (a range of it) in the browser."""

    evidence_id: str
    reason: str | None = None
    """Needed for a case flagged sensitive, juvenile or victim-privacy."""
    start: float | None = None
    end: float | None = None
    height: int | None = None
    """At most ``MAX_HEIGHT`` (the default: the source's height up to that)."""
    segment_s: float = SEGMENT_S


@dataclass(frozen=True)
class ViewingStarted:
    viewing_id: str
    evidence_id: str
    viewer: str
    start_s: float
    end_s: float
    segment_s: float
    segments: int
    width: int
    height: int
    expires_at: str
    alerted: list[str]


@dataclass(frozen=True)
class Segment:
    """One segment of a viewing's stream, as sent (MPEG-TS)."""

    viewing_id: str
    n: int
    start_s: float
    end_s: float
    data: bytes
    cached: bool
    """Taken from the cache (rendered before, for this viewing)."""


@dataclass(frozen=True)
class ViewingItem:
    """A viewing on record, as listed beside the exports."""

    viewing_id: str
    evidence_id: str
    viewer: str
    purpose: str | None
    created_at: str
    expires_at: str
    start_s: float
    end_s: float
    width: int
    height: int


def _plan(v: Viewing) -> SegmentPlan:
    return SegmentPlan(v.start_s, v.end_s, v.segment_s)


def start_viewing(ctx: Context, actor_name: str | None, cmd: StartViewing) -> ViewingStarted:
    """Authorise and record a viewing; the original is re-hashed first (one altered or
    gone is refused, on record)."""
    viewing_id = new_id("VW")
    with acting(ctx, actor_name) as uc:
        ev, case = uc.found_evidence(cmd.evidence_id, attempted=_VIEW)
        reason: str | None = None
        if cmd.reason is not None and cmd.reason.strip():
            try:
                reason = check_text(cmd.reason, "reason", 2000)
            except InvalidInput as exc:
                uc.refuse(exc, attempted=_VIEW.value, case=case.number, evidence=ev.id)
        decision = uc.allow(_VIEW, case=case, evidence=ev, reason=reason)
        try:
            start_s, end_s = check_range(cmd.start, cmd.end, ev.media.duration_s, ev.media.damage)
            width, height = _size(ev, cmd.height)
            if not (0.5 <= cmd.segment_s <= 10):
                raise InvalidInput("{segment_s} must be 0.5 to 10 seconds", field="segment_s")
            uc.ctx.watermark_secret  # noqa: B018  (refused here, on record, if missing)
            with verified_original(ctx, ev.id, ev.sha256):
                pass
        except CustodesError as exc:
            uc.refuse(exc, attempted=_VIEW.value, case=case.number, evidence=ev.id, reason=reason)
        now = ctx.clock.now()
        expires = (now + VIEWING_TTL).isoformat(timespec="seconds")
        text = f"VIEWED BY {uc.actor.username}  {viewing_id}  {now:%Y-%m-%d %H:%M} UTC"
        mark = MarkParams().to_dict()
        seq = uc.record(
            Action.VIEWING_START,
            case=case,
            evidence=ev,
            object_type="viewing",
            object_id=viewing_id,
            reason=reason,
            details={
                "sha256": ev.sha256,
                "start_s": start_s,
                "end_s": end_s,
                "segment_s": float(cmd.segment_s),
                "width": width,
                "height": height,
                "key_version": KEY_VERSION,
                "mark": mark,
                "visible_text": text,
                "expires_at": expires,
                **alert_note(AlertKind.SENSITIVE_ACCESS, reason, alert=decision.alert),
            },
        )
        viewing = Viewing(
            id=viewing_id,
            evidence_id=ev.id,
            viewer=uc.actor.username,
            purpose=reason,
            created_at=now_iso(ctx),
            expires_at=expires,
            start_s=start_s,
            end_s=end_s,
            segment_s=float(cmd.segment_s),
            width=width,
            height=height,
            key_version=KEY_VERSION,
            mark=mark,
            visible_text=text,
            audit_seq=seq,
        )
        uc.uow.viewings.add(viewing)
        alerted = alert_if_flagged(
            ctx, uc.uow, decision, seq, AlertKind.SENSITIVE_ACCESS, uc.actor.username, ev, reason
        )
        uc.commit()
    _sweep_cache(ctx)
    return ViewingStarted(
        viewing_id=viewing_id,
        evidence_id=ev.id,
        viewer=viewing.viewer,
        start_s=start_s,
        end_s=end_s,
        segment_s=viewing.segment_s,
        segments=_plan(viewing).count,
        width=width,
        height=height,
        expires_at=expires,
        alerted=alerted,
    )


def warm_up() -> None:
    """Load the compiled mark (numba's cached kernels, about 1.5 CPU-seconds) before the
    first viewing asks for a segment: a server calls this, on a thread, as it starts."""
    import numpy as np

    from custodes.media.fastmark import FastEmbedder

    marker = FastEmbedder(bytes(32), 128, 128, MarkParams())
    marker.mark_luma(np.full((128, 128), 128, np.uint8), 0.0)


def _size(ev: Evidence, height: int | None) -> tuple[int, int]:
    if height is not None and height > MAX_HEIGHT:
        raise InvalidInput(f"{{height}} must be at most {MAX_HEIGHT}", field="height")
    want = min(ev.media.height, MAX_HEIGHT) if height is None else height
    try:
        return output_size(ev.media.width, ev.media.height, want)
    except InvalidInput as exc:
        raise InvalidInput(str(exc), field="height") from exc


def _own_viewing(uc: UseCase, viewing_id: str) -> tuple[Viewing, Evidence, Case]:
    """The viewing, as its signed event vouches for it, fetched by its own viewer while
    it lasts and while the viewer still may open its evidence; else refused on record."""
    found = uc.uow.viewings.find(viewing_id)
    if found is None:
        uc.refuse(NotFound(f"no viewing '{viewing_id}'"), attempted=_VIEW.value)
    ev, case = uc.found_evidence(found.evidence_id, attempted=_VIEW)
    try:
        _vouch(uc, found)
        if found.viewer != uc.actor.username:
            raise PermissionDenied(
                f"permission denied: viewing {viewing_id} is {found.viewer}'s; only its "
                "viewer may fetch its stream"
            )
        if uc.ctx.clock.now() >= datetime.fromisoformat(found.expires_at):
            raise PermissionDenied(
                f"permission denied: viewing {viewing_id} expired at {found.expires_at}; "
                "start a new one"
            )
    except CustodesError as exc:
        uc.refuse(exc, attempted=_VIEW.value, case=case.number, evidence=ev.id)
    uc.allow(_VIEW, case=case, evidence=ev, reason=found.purpose)
    return found, ev, case


def _signed(uow: UnitOfWork, evidence_id: str | None) -> dict[str, ViewingState]:
    """The viewings the signed log vouches for (of ``evidence_id``, or all)."""
    ledger = Ledger()
    for raw in uow.audit.fact_entries({Action.VIEWING_START.value}, evidence_id=evidence_id):
        with contextlib.suppress(InvalidInput):
            ledger.apply(decode_entry(raw))
    return ledger.state.viewings


def _check(signed: dict[str, ViewingState], v: Viewing) -> None:
    """The row must be what its ``viewing-started`` event says (IntegrityFailure)."""
    want = signed.get(v.id)
    if want is None:
        raise IntegrityFailure(
            f"viewing {v.id} of {v.evidence_id} has no signed viewing-started event",
            advice="verify the vault",
        )
    differ = differing(want, viewing_state(v))
    if differ:
        raise IntegrityFailure(
            f"viewing {v.id} of {v.evidence_id} differs from its signed event in "
            f"{', '.join(differ)}",
            advice="verify the vault",
        )


def _vouch(uc: UseCase, v: Viewing) -> None:
    _check(_signed(uc.uow, v.evidence_id), v)


def check_viewing_copies(
    uow: UnitOfWork, evidence_id: str, copies: Sequence[TracedCopy], start_s: float, end_s: float
) -> None:
    """As ``state.check_copies`` for exports: a trace names the viewer of a signed
    ``viewing-started`` event, never a bare row, and misses no viewing on the log."""
    signed = _signed(uow, evidence_id)
    for copy in copies:
        _check(signed, uow.viewings.get(copy.id))
    shown = {c.id for c in copies}
    for viewing_id, state in signed.items():
        if viewing_id not in shown and state.start_s < end_s and state.end_s > start_s:
            raise IntegrityFailure(
                f"viewing {viewing_id} of {evidence_id} is on the signed audit log but not in "
                "the vault's tables: a trace without it could name the wrong copy",
                advice="verify the vault",
            )


def viewing_playlist(
    ctx: Context,
    actor_name: str | None,
    viewing_id: str,
    uri: Callable[[int], str] = lambda n: f"segments/{n}.ts",
) -> str:
    """The viewing's HLS media playlist (``uri(n)`` names segment ``n``)."""
    with acting(ctx, actor_name, readonly=True) as uc:
        viewing, _, _ = _own_viewing(uc, viewing_id)
    return playlist(_plan(viewing), uri)


def viewing_segment(ctx: Context, actor_name: str | None, viewing_id: str, n: int) -> Segment:
    """Segment ``n`` of the viewing's stream: from the cache, else rendered now from the
    original with the viewing's marks. What is sent is put on record (see the module)."""
    with acting(ctx, actor_name, readonly=True) as uc:
        viewing, ev, case = _own_viewing(uc, viewing_id)
        plan = _plan(viewing)
        try:
            a, b = plan.bounds(n)
            secret = uc.ctx.watermark_secret
        except CustodesError as exc:
            uc.refuse(exc, attempted=_VIEW.value, case=case.number, evidence=ev.id)
    cached = _cached(ctx, viewing_id, n)
    if cached is None:
        data, hit = _render(ctx, viewing, ev, plan, n, secret, None), False
    else:
        data, hit = _AHEAD.get(cached, partial(_render, ctx, viewing, ev, plan, n, secret, cached))
        # A player fetches in order: have the next ones rendered while it plays this one.
        for k in range(n + 1, min(n + 1 + PREFETCH, plan.count)):
            path = _cached(ctx, viewing_id, k)
            assert path is not None
            _AHEAD.ahead(path, partial(_render, ctx, viewing, ev, plan, k, secret, path))
    _note_sent(ctx, actor_name, viewing, ev, a, b)
    return Segment(viewing_id, n, a, b, data, hit)


PREFETCH = 2
"""Segments rendered ahead of the one a player asked for (see the module)."""

_log = logging.getLogger(__name__)


class _Renders:
    """Segments being rendered in this process, by cache path: each is rendered once,
    and whoever asks for one in progress waits for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[Path, Future[bytes]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def get(self, path: Path, render: Callable[[], bytes]) -> tuple[bytes, bool]:
        """The segment's bytes, and whether they were ready (cached or rendered ahead)."""
        with self._lock:
            running = self._running.get(path)
            mine: Future[bytes] | None = None
            if running is None:
                if path.is_file():
                    return path.read_bytes(), True
                mine = self._running[path] = Future()
        if running is not None:  # rendered ahead, not ready yet: wait for it
            try:
                return running.result(), True
            except Exception:  # a failed render ahead: render it here
                return self.get(path, render)
        assert mine is not None
        try:
            data = render()
        except BaseException as exc:
            self._settle(path, mine, exc)
            raise
        self._settle(path, mine, data)
        return data, False

    def ahead(self, path: Path, render: Callable[[], bytes]) -> None:
        """Render ``path`` on the background thread, unless it is there or on its way."""
        with self._lock:
            if path in self._running or path.is_file():
                return
            future: Future[bytes] = Future()
            self._running[path] = future
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="custodes-ahead")
        self._pool.submit(self._run, path, future, render)

    def _run(self, path: Path, future: Future[bytes], render: Callable[[], bytes]) -> None:
        try:
            data = render()
        except BaseException as exc:  # logged; a request for it renders it anew
            _log.warning("rendering segment %s ahead failed: %s", path.name, exc)
            self._settle(path, future, exc)
        else:
            self._settle(path, future, data)

    def _settle(self, path: Path, future: Future[bytes], outcome: bytes | BaseException) -> None:
        """Forget the render, then wake whoever waits (who then finds the file, or
        renders it anew after a failure)."""
        with self._lock:
            self._running.pop(path, None)
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


_AHEAD = _Renders()


def _cached(ctx: Context, viewing_id: str, n: int) -> Path | None:
    if ctx.cache_dir is None:
        return None
    return ctx.cache_dir / "viewings" / viewing_id / f"{n}.ts"


def _render(
    ctx: Context,
    v: Viewing,
    ev: Evidence,
    plan: SegmentPlan,
    n: int,
    secret: bytes,
    dest: Path | None,
) -> bytes:
    # Imported here: numba takes most of a second to load, which no other call needs.
    from custodes.media.fastmark import FastEmbedder

    a, b = plan.bounds(n)
    last = n == plan.count - 1 and b >= ev.media.duration_s - 1e-6
    marker = FastEmbedder(
        derive_key(secret, v.id, v.key_version), v.width, v.height, MarkParams.from_dict(v.mark)
    )
    with contextlib.ExitStack() as held:
        if dest is None:
            dest = Path(held.enter_context(tempfile.TemporaryDirectory())) / f"{n}.ts"
        dest.parent.mkdir(parents=True, exist_ok=True)
        source = _source(ctx, ev, held)
        render_segment(
            source,
            dest,
            start_s=a,
            end_s=b,
            height=v.height,
            marker=marker,
            visible_text=v.visible_text,
            settings=SETTINGS,
            last=last,
        )
        return dest.read_bytes()


def _source(ctx: Context, ev: Evidence, held: contextlib.ExitStack) -> Path | BinaryIO:
    """The original, read where it is stored: a seekable stream of a local store (checked
    when the viewing started: blobs are never replaced). A store that only streams (S3)
    is downloaded once, re-hashed, into ``<cache>/originals/<sha256>`` and read there by
    every viewing of it (swept as the segments are); without a cache, each segment reads
    a re-hashed download."""
    stream = ctx.blobs.open(ev.sha256)
    if stream.seekable():
        return held.enter_context(stream)
    stream.close()
    if ctx.cache_dir is None:
        return held.enter_context(verified_original(ctx, ev.id, ev.sha256))
    local = ctx.cache_dir / "originals" / ev.sha256
    if local.is_file():
        os.utime(local)  # in use: not swept
        return local
    local.parent.mkdir(parents=True, exist_ok=True)
    with verified_original(ctx, ev.id, ev.sha256) as path:
        part = local.with_name(f".{local.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
        try:
            shutil.copyfile(path, part)
            os.chmod(part, 0o400)
            os.replace(part, local)
        finally:
            part.unlink(missing_ok=True)
    return local


def _note_sent(
    ctx: Context, actor_name: str | None, v: Viewing, ev: Evidence, a: float, b: float
) -> None:
    """Keep the run of segments sent up to date; record ``viewing-range`` when due."""
    with acting(ctx, actor_name) as uc:
        sent = uc.uow.viewings.sent(v.id)
        ranges: list[tuple[float, float]] = []
        if sent is not None and sent.from_s - 1e-6 <= a and b <= sent.to_s + 1e-6:
            return  # sent again (a reload): already part of the run
        if sent is not None and abs(a - sent.to_s) < 1e-6:
            new = SentRange(sent.from_s, b, sent.recorded_to_s)
            if b - sent.recorded_to_s >= RANGE_RECORD_S - 1e-6:
                ranges.append((sent.recorded_to_s, b))
                new = SentRange(sent.from_s, b, b)
        else:  # a new run (the first, or after a seek): the last one's tail, then this
            if sent is not None and sent.to_s > sent.recorded_to_s + 1e-6:
                ranges.append((sent.recorded_to_s, sent.to_s))
            ranges.append((a, b))
            new = SentRange(a, b, b)
        uc.uow.viewings.set_sent(v.id, new)
        if not ranges:
            uc.commit_unsigned()
            return
        uc.record(
            Action.VIEWING_RANGE,
            case=ev.case_number,
            evidence=ev,
            object_type="viewing",
            object_id=v.id,
            details={"sent": [[round(x, 3), round(y, 3)] for x, y in ranges]},
        )
        uc.commit()


def _sweep_cache(ctx: Context) -> None:
    """Remove the cached segments of viewings that expired, and local copies of
    originals no viewing used since (by age)."""
    if ctx.cache_dir is None:
        return
    cutoff = time.time() - VIEWING_TTL.total_seconds() - 3600
    for kind in ("viewings", "originals"):
        with contextlib.suppress(OSError):
            for entry in (ctx.cache_dir / kind).iterdir():
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime >= cutoff:
                        continue
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink()


def list_viewings(
    ctx: Context, actor_name: str | None, evidence_id: str | None = None
) -> list[ViewingItem]:
    """Viewings on record, as exports are listed (``vault:audit:read``; those of a case
    whose record the actor may not read are left out, or refused when named)."""
    with acting(ctx, actor_name, readonly=True) as uc:
        uc.allow(Permission.AUDIT_READ)
        facts = {c.number: c.facts for c in uc.uow.cases.list()}
        record_filter(uc, evidence_id=evidence_id)
        listed = uc.uow.viewings.list(
            evidence_id=evidence_id, hidden_cases=hidden_cases(uc.actor, facts)
        )
        signed = _signed(uc.uow, evidence_id)
        for v in listed:
            try:
                _check(signed, v)
            except IntegrityFailure as exc:
                uc.refuse(exc, attempted=Permission.AUDIT_READ.value, evidence=v.evidence_id)
    return [
        ViewingItem(
            viewing_id=v.id,
            evidence_id=v.evidence_id,
            viewer=v.viewer,
            purpose=v.purpose,
            created_at=v.created_at,
            expires_at=v.expires_at,
            start_s=v.start_s,
            end_s=v.end_s,
            width=v.width,
            height=v.height,
        )
        for v in listed
    ]
