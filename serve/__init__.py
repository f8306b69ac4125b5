"""Real-time fraud scoring: Ray Serve HTTP app and Kafka consumers over one scoring core.

The public surface is below; the deployment itself is ``serve.app:app`` (``serve run
serve/config.yaml``), brought up by ``gbank serve up`` (:mod:`serve.service`). See
``docs/serving.md``.
"""

from __future__ import annotations

from serve.consumer import ConsumerConfig as ConsumerConfig
from serve.consumer import ConsumerGroup as ConsumerGroup
from serve.model_store import LoadedModel as LoadedModel
from serve.model_store import ModelStore as ModelStore
from serve.schemas import Score as Score
from serve.schemas import Transaction as Transaction
from serve.scoring import Scorer as Scorer
from serve.scoring import ScoringConfig as ScoringConfig

__all__ = [
    "ConsumerConfig",
    "ConsumerGroup",
    "LoadedModel",
    "ModelStore",
    "Score",
    "Scorer",
    "ScoringConfig",
    "Transaction",
]
