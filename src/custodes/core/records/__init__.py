"""What the vault holds, as frozen values: the records repositories return.

Pure data. The storage layer maps rows to these (``storage.repositories``); services
read them and never see a database row, so ``mypy --strict`` checks what crosses the
service boundary.
"""

from custodes.core.records.audit import LogEntry, LogState, StoredCheckpoint, StoredRow
from custodes.core.records.cases import Case
from custodes.core.records.evidence import Evidence
from custodes.core.records.holdings import KeptBlob
from custodes.core.records.people import User

__all__ = [
    "Case",
    "Evidence",
    "KeptBlob",
    "LogEntry",
    "LogState",
    "StoredCheckpoint",
    "StoredRow",
    "User",
]
