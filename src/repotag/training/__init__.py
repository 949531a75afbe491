"""Training a :class:`~repotag.model.TagModel`: cross-validation, calibration, decision policy."""

from ._trainer import (
    THRESHOLD_GRID,
    LabelledDocument,
    Trainer,
    TrainingResult,
    best_threshold,
    choose_policy,
    fit_platt,
    fold_splits,
    nested_predictions,
    nested_selection_report,
    predictions_at,
    read_labelled,
    train_model,
    tune_tag_thresholds,
)

__all__ = [
    "THRESHOLD_GRID", "LabelledDocument", "Trainer", "TrainingResult", "best_threshold", "choose_policy", "fit_platt",
    "fold_splits", "nested_predictions", "nested_selection_report", "predictions_at", "read_labelled", "train_model",
    "tune_tag_thresholds",
]
