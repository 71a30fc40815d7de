"""In CI (CI=true) every optional piece must be present, so that no test skips silently
because an install step broke. Locally, missing pieces only make their tests skip."""

from __future__ import annotations

import importlib
import os

import pytest

REQUIRED_IN_CI = ["onnx", "onnxruntime", "mace_converters", "tensorflow", "ai_edge_litert",
                  "yaml"]


@pytest.mark.skipif(os.environ.get("CI", "").lower() != "true",
                    reason="only enforced in CI (CI=true)")
@pytest.mark.parametrize("module", REQUIRED_IN_CI)
def test_ci_has_the_full_toolchain(module):
    importlib.import_module(module)
