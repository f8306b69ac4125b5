"""The fraud model: Ray Train training, metrics, MLflow registry, monitoring, explanations.

Public surface (everything else is internal):
"""

from __future__ import annotations

from models.explain import top_contributions as top_contributions
from models.metrics import evaluate as evaluate
from models.monitoring import ALERT_PSI as ALERT_PSI
from models.monitoring import drift_report as drift_report
from models.monitoring import psi as psi
from models.registry import CHALLENGER as CHALLENGER
from models.registry import CHAMPION as CHAMPION
from models.registry import MODEL_NAME as MODEL_NAME
from models.registry import promote as promote
from models.retrain import retrain as retrain
from models.train import InsufficientData as InsufficientData
from models.train import TrainConfig as TrainConfig
