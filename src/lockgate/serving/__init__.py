"""The prediction API: request schemas from contracts, prediction and feedback logs,
Prometheus metrics, adaptive micro-batching, alias following, secure defaults."""

from lockgate.serving.app import create_serving_app
from lockgate.serving.batch_scoring import BatchScoringError, BatchScoringResult, predict_batch
from lockgate.serving.config import ServeConfig
from lockgate.serving.metrics import ServingMetrics
from lockgate.serving.prediction_log import (
    feedback_path,
    join_feedback,
    predictions_path,
    read_feedback,
    read_predictions,
)
from lockgate.serving.request_schema import RequestSchema, build_schema
from lockgate.serving.security import ServeSecurityError, check_bind
from lockgate.serving.server import BackgroundServer, free_port, serve
from lockgate.serving.state import ServingState

__all__ = [
    "BackgroundServer",
    "BatchScoringError",
    "BatchScoringResult",
    "RequestSchema",
    "ServeConfig",
    "ServeSecurityError",
    "ServingMetrics",
    "ServingState",
    "build_schema",
    "check_bind",
    "create_serving_app",
    "feedback_path",
    "free_port",
    "join_feedback",
    "predict_batch",
    "predictions_path",
    "read_feedback",
    "read_predictions",
    "serve",
]
