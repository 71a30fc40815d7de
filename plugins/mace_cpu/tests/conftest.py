"""Fixtures of the mace-cpu tests: every ISA this CPU supports, and 1 or 2 threads."""

from __future__ import annotations

import pytest

import mace_cpu

from cpu_helpers import supported_isas

SUPPORTED_ISAS = supported_isas()


@pytest.fixture(autouse=True, scope="session")
def _split_every_job():
    """Even tiny jobs are split over the pool, so 2-thread runs exercise the parallel code."""
    if not SUPPORTED_ISAS:
        yield
        return
    from mace_cpu.threads import set_grain

    set_grain(0.0)
    yield
    set_grain(1.0)


@pytest.fixture(autouse=True)
def _reset_isa():
    """Each test starts and ends with the default ISA choice."""
    mace_cpu.set_isa(None)
    yield
    mace_cpu.set_isa(None)


@pytest.fixture(params=SUPPORTED_ISAS or [pytest.param("none", marks=pytest.mark.skip(
    reason="mace_cpu._native is not built: pip install -e plugins/mace_cpu"))])
def isa(request) -> str:
    """Each ISA this CPU supports, forced for kernels prepared during the test."""
    mace_cpu.set_isa(request.param)
    return request.param


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request) -> int:
    return request.param
