"""The planted ground truth (persona per account-week, migrations, churn): evaluation only, never landing data."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from seg_pipeline.sources.simulator.accounts import Accounts
from seg_pipeline.sources.simulator.arrays import account_ids
from seg_pipeline.sources.simulator.config import days
from seg_pipeline.sources.simulator.dynamics import Migration
from seg_pipeline.sources.simulator.personas import PERSONAS


@dataclass
class TruthLog:
    """What each week planted: (account numbers, week index, persona) rows and migrations."""

    personas: list[tuple[np.ndarray, int, np.ndarray]] = field(default_factory=list)
    migrations: list[Migration] = field(default_factory=list)
    # sparse scenarios only: (account numbers, week index, active that week) of every alive account
    activity: list[tuple[np.ndarray, int, np.ndarray]] = field(default_factory=list)

    def tables(self, acc: Accounts, weeks: Sequence[date]) -> dict[str, pa.Table]:
        """``personas``, ``migrations``, ``churn`` (``activity`` when sparse) as Arrow tables (``<name>.parquet``)."""
        week_arr = np.asarray([days(w) for w in weeks], dtype=np.int32)
        names = pa.array(PERSONAS, type=pa.string())

        def acc_ids(nums: list[np.ndarray]) -> pa.Array:
            return account_ids(np.concatenate(nums)) if nums else pa.array([], type=pa.string())

        def week_col(ws: list[np.ndarray]) -> pa.Array:
            return pa.array(np.concatenate(ws) if ws else np.zeros(0, np.int32), type=pa.int32()).cast(pa.date32())

        def persona_col(ps: list[np.ndarray]) -> pa.Array:
            return pc.take(names, pa.array(np.concatenate(ps) if ps else np.zeros(0, np.int64)))

        churned = np.flatnonzero(acc.churn_week >= 0)
        tables = {
            "personas": pa.table({
                "account_id": acc_ids([r[0] for r in self.personas]),
                "week_start": week_col([np.full(len(r[0]), week_arr[r[1]]) for r in self.personas]),
                "persona": persona_col([r[2] for r in self.personas]),
            }),
            "migrations": pa.table({
                "account_id": acc_ids([r[0] for r in self.migrations]),
                "week_start": week_col([np.full(len(r[0]), week_arr[r[1]]) for r in self.migrations]),
                "from_persona": persona_col([r[2] for r in self.migrations]),
                "to_persona": persona_col([r[3] for r in self.migrations]),
            }),
            "churn": pa.table({
                "account_id": acc_ids([acc.num[churned]]),
                "churn_week": week_col([week_arr[acc.churn_week[churned]]]),
            }),
        }
        if self.activity:
            tables["activity"] = pa.table({
                "account_id": acc_ids([r[0] for r in self.activity]),
                "week_start": week_col([np.full(len(r[0]), week_arr[r[1]]) for r in self.activity]),
                "active": pa.array(np.concatenate([r[2] for r in self.activity]), type=pa.bool_()),
            })
        return tables
