"""Fixtures of the GPU tests. They need an OpenCL platform (PoCL is enough): without one
they FAIL with the probe's reason, unless MACE_GPU_TESTS=skip, which skips them."""

from __future__ import annotations

import os

import pytest

from mace_core.errors import DeviceUnavailable

# PoCL compiles a kernel again for every local size it is launched with unless told not to;
# one generic build per kernel keeps a cold test run short. (Read when PoCL initialises.)
os.environ.setdefault("POCL_WORK_GROUP_SPECIALIZATION", "0")


@pytest.fixture(scope="session", autouse=True)
def program_cache_dir(tmp_path_factory):
    """A fresh program binary cache for the test session (cold builds are part of it)."""
    path = tmp_path_factory.mktemp("mace-cache")
    old = os.environ.get("MACE_CACHE_DIR")
    os.environ["MACE_CACHE_DIR"] = str(path)
    yield path / "opencl"
    if old is None:
        os.environ.pop("MACE_CACHE_DIR", None)
    else:
        os.environ["MACE_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def gpu():
    """The GpuRuntime of the OpenCL device these tests run on."""
    from mace_gpu_opencl.device import get_runtime

    try:
        return get_runtime()
    except DeviceUnavailable as exc:
        reason = f"no usable OpenCL device: {exc}"
    if os.environ.get("MACE_GPU_TESTS") == "skip":
        pytest.skip(f"{reason} (MACE_GPU_TESTS=skip)")
    pytest.fail(f"{reason}; set MACE_GPU_TESTS=skip to skip the GPU tests instead",
                pytrace=False)
