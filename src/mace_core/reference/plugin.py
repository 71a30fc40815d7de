"""Registers the core op schemas and the reference device with its kernels."""

from __future__ import annotations

import platform

import numpy as np

from mace_core._hookspecs import hookimpl
from mace_core.ir import Layout
from mace_core.ops import all_ops
from mace_core.specs import Capabilities, KernelSpec

DEVICE = "reference"


class ReferenceDevice:
    """Always present: numpy on the host CPU. Slow by design; correct by definition."""

    name = DEVICE

    def probe(self) -> Capabilities:
        return Capabilities(
            name=DEVICE,
            kind="reference",
            description=f"numpy {np.__version__} on {platform.machine()} (the executable spec)",
            preferred_layout=Layout.NCHW,
        )


@hookimpl
def mace_register_devices(register):
    register(ReferenceDevice())


@hookimpl
def mace_register_ops(register):
    for op in all_ops():
        register(op.schema)


@hookimpl
def mace_register_kernels(register):
    for op in all_ops():
        register(
            KernelSpec(
                op_type=op.schema.op_type,
                domain=op.schema.domain,
                device=DEVICE,
                fn=op.reference,
                priority=-100,
                name=f"reference:{op.schema.op_type}",
            )
        )
