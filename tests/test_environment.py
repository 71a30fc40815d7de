"""In CI (CI=true) every optional piece must be present, so that no test skips silently
because an install step broke. Locally, missing pieces only make their tests skip."""

from __future__ import annotations

import importlib.util
import os

import pytest

REQUIRED_IN_CI = ["onnx", "onnxruntime", "mace_converters", "tensorflow", "ai_edge_litert",
                  "yaml", "mace_cpu", "mace_gpu_opencl"]


@pytest.mark.skipif(os.environ.get("CI", "").lower() != "true",
                    reason="only enforced in CI (CI=true)")
@pytest.mark.parametrize("module", REQUIRED_IN_CI)
def test_ci_has_the_full_toolchain(module):
    # find_spec, not import: importing tensorflow here would load its LLVM into the process
    assert importlib.util.find_spec(module) is not None, f"{module} is not installed"


@pytest.mark.skipif(os.environ.get("CI", "").lower() != "true",
                    reason="only enforced in CI (CI=true)")
@pytest.mark.parametrize("device", ["reference", "cpu", "gpu"])
def test_ci_devices_are_present(device):
    from mace_core.registry import default_registry

    default_registry().probe(device)  # raises DeviceUnavailable with the reason


@pytest.mark.skipif(os.environ.get("CI", "").lower() != "true",
                    reason="only enforced in CI (CI=true)")
@pytest.mark.parametrize("tool", ["aarch64-linux-gnu-gcc", "qemu-aarch64", "gcc"])
def test_ci_has_the_cross_toolchain(tool):
    import shutil

    assert shutil.which(tool), f"{tool} is missing: run scripts/setup.sh (apt packages)"
