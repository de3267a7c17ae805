"""Import batches as events, so data health is projected from the log like everything else."""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

IMPORT_NAMESPACE: Final = UUID("7a6f3a52-58e1-4c8e-9a52-0f8a3b1d2c44")


class ImportBatch(Aggregate):
    class Completed(Aggregate.Created):
        batch_id: str
        source_file: str
        rows_read: int
        accepted: int
        rejected: int
        null_rates: dict[str, float]  # core field → share of accepted rows without it
        abnormal_char_rows: int  # rows whose cells needed invisible-character or NFKC cleaning
        completed_at: datetime
        # rejected rows by the column of their first problem (the intake ledger's "per file and
        # reason"); absent from batches recorded before it was kept
        rejected_by_column: dict[str, int] | None = None

    def __init__(
        self,
        batch_id: str,
        source_file: str,
        rows_read: int,
        accepted: int,
        rejected: int,
        null_rates: dict[str, float],
        abnormal_char_rows: int,
        completed_at: datetime,
        rejected_by_column: dict[str, int] | None = None,
    ) -> None:
        self.rejected_by_column = dict(rejected_by_column or {})
        self.batch_id = batch_id
        self.source_file = source_file
        self.rows_read = rows_read
        self.accepted = accepted
        self.rejected = rejected
        self.null_rates = null_rates
        self.abnormal_char_rows = abnormal_char_rows
        self.completed_at = completed_at

    @classmethod
    def complete(
        cls,
        batch_id: str,
        source_file: str,
        rows_read: int,
        accepted: int,
        rejected: int,
        null_rates: dict[str, float],
        abnormal_char_rows: int,
        completed_at: datetime,
        rejected_by_column: dict[str, int] | None = None,
    ) -> ImportBatch:
        return cls._create(
            cls.Completed,
            id=uuid5(IMPORT_NAMESPACE, batch_id),
            timestamp=completed_at,
            batch_id=batch_id,
            source_file=source_file,
            rows_read=rows_read,
            accepted=accepted,
            rejected=rejected,
            null_rates=null_rates,
            abnormal_char_rows=abnormal_char_rows,
            completed_at=completed_at,
            rejected_by_column=dict(rejected_by_column or {}),
        )
