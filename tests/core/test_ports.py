"""Values declared beside the ports: BlobLock, the retention lock a blob store reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from custodes.core.ports import RETENTION_SLACK, BlobLock

STORED = datetime(2026, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)


def test_a_compliance_lock_as_long_as_the_retention_suffices() -> None:
    lock = BlobLock(True, "COMPLIANCE", STORED + YEAR, stored_at=STORED)
    assert lock.shortfall(YEAR) is None
    # Dated when the upload began, stored when it ended: within the slack it suffices.
    late = BlobLock(True, "COMPLIANCE", STORED + YEAR - RETENTION_SLACK, stored_at=STORED)
    assert late.shortfall(YEAR) is None


def test_a_shorter_or_weaker_lock_falls_short() -> None:
    short = BlobLock(True, "COMPLIANCE", STORED + YEAR - timedelta(days=2), stored_at=STORED)
    assert "before 2027-01-01" in (short.shortfall(YEAR) or "")
    governance = BlobLock(True, "GOVERNANCE", STORED + 2 * YEAR, stored_at=STORED)
    assert governance.shortfall(YEAR) == ("it has no compliance-mode retention (mode GOVERNANCE)")
    assert BlobLock(True, stored_at=STORED).shortfall(YEAR) is not None
    assert BlobLock(False).shortfall(YEAR) == "its store cannot lock it"
    # A legal hold is not a retention.
    assert BlobLock(True, legal_hold=True, stored_at=STORED).shortfall(YEAR) is not None
