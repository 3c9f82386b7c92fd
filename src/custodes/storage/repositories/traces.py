"""Traces of leaked clips, and (read only) the exported copies a trace weighs."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from custodes.core.errors import NotFound
from custodes.core.jsontext import JSONObject
from custodes.core.records import Trace, TracedCopy
from custodes.storage import tables as t
from custodes.storage.repositories.derivatives import stored_document

MARK_OP = "forensic-watermark"
"""The lineage operation of an export that records its invisible mark."""


def _mark(lineage: str) -> JSONObject:
    ops = stored_document(lineage).get("operations")
    for op in ops if isinstance(ops, list) else []:
        if isinstance(op, dict) and op.get("op") == MARK_OP and isinstance(op["params"], dict):
            return op["params"]
    raise ValueError("an export's lineage names no forensic watermark")


class TraceRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def _trace(row: Any) -> Trace:
        return Trace(
            id=row.id,
            actor=row.actor,
            created_at=row.created_at,
            leak_sha256=row.leak_sha256,
            leak_name=row.leak_name,
            verdict=row.verdict,
            evidence_id=row.evidence_id,
            result=stored_document(row.result),
            audit_seq=int(row.audit_seq),
        )

    def add(self, trace: Trace) -> Trace:
        r = trace
        self._conn.execute(
            insert(t.traces).values(
                id=r.id,
                actor=r.actor,
                created_at=r.created_at,
                leak_sha256=r.leak_sha256,
                leak_name=r.leak_name,
                verdict=r.verdict,
                evidence_id=r.evidence_id,
                result=json.dumps(r.result, sort_keys=True),
                audit_seq=r.audit_seq,
            )
        )
        return r

    def find(self, trace_id: str) -> Trace | None:
        row = self._conn.execute(select(t.traces).where(t.traces.c.id == trace_id)).one_or_none()
        return None if row is None else self._trace(row)

    def get(self, trace_id: str) -> Trace:
        found = self.find(trace_id)
        if found is None:
            raise NotFound(f"no trace '{trace_id}'")
        return found

    def copies_overlapping(
        self, evidence_id: str, start_s: float, end_s: float
    ) -> list[TracedCopy]:
        """The exported copies of ``evidence_id`` that show some of ``start_s``-``end_s``
        (seconds of the original), oldest first."""
        ex = t.exports.c
        rows = self._conn.execute(
            select(t.exports)
            .where((ex.evidence_id == evidence_id) & (ex.start_s < end_s) & (ex.end_s > start_s))
            .order_by(ex.created_at, ex.id)
        )
        return [
            TracedCopy(
                id=r.id,
                evidence_id=r.evidence_id,
                recipient=r.recipient,
                actor=r.actor,
                created_at=r.created_at,
                purpose=r.purpose,
                start_s=float(r.start_s),
                end_s=float(r.end_s),
                key_version=int(r.key_version),
                output_sha256=r.output_sha256,
                mark=_mark(r.lineage),
            )
            for r in rows
        ]
