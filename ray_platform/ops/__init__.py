"""Operations: the daily DAG (steps, retries, run records, resume), its SLA and backfills."""

from __future__ import annotations

from ray_platform.ops.dag import Dag as Dag
from ray_platform.ops.dag import DagResult as DagResult
from ray_platform.ops.dag import DagRunner as DagRunner
from ray_platform.ops.dag import RetryPolicy as RetryPolicy
from ray_platform.ops.dag import Step as Step
from ray_platform.ops.dag import StepContext as StepContext
from ray_platform.ops.dag import StepFailed as StepFailed
from ray_platform.ops.dag import StepOutput as StepOutput
from ray_platform.ops.runs import DAG_RUNS as DAG_RUNS
from ray_platform.ops.runs import RunLog as RunLog
from ray_platform.ops.runs import StepRecord as StepRecord
