"""Stage 2: the embedded estimator (``TagModel``): fit, predict_proba, save, load, model card."""

from ._card import model_card, scores_table
from ._estimator import Calibration, ModelParams, TagModel, bundled_model_dir

__all__ = ["Calibration", "ModelParams", "TagModel", "bundled_model_dir", "model_card", "scores_table"]
