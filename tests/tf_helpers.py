"""Helpers shared by the TensorFlow / TFLite test modules (they run in their own pytest
process: see scripts/test.sh)."""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest


def heavy(module: str):
    """Import a heavy test dependency; skipping is allowed only with MACE_ALLOW_SKIP_HEAVY=1."""
    if os.environ.get("MACE_ALLOW_SKIP_HEAVY") == "1":
        return pytest.importorskip(module, reason=f"{module} is not installed and "
                                   "MACE_ALLOW_SKIP_HEAVY=1 allows skipping")
    return importlib.import_module(module)


def mobilenet_v2(keras):
    """MobileNetV2 (alpha 0.35, 96x96, random weights, logits out) with random batch-norm
    statistics: with the initial ones (mean 0, variance 1) its logits vanish (~1e-10)."""
    model = keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), weights=None,
                                           classifier_activation=None)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.get_weights()[0].shape
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n),
                               rng.normal(0, 0.2, n), rng.uniform(0.5, 1.5, n)])
    return model
