"""A custom op in its own domain: com.example::Swish(x) = x * sigmoid(beta * x)."""

import numpy as np

from mace_core._hookspecs import hookimpl
from mace_core.schema import OpSchema, same_as_input
from mace_core.specs import KernelSpec

DOMAIN = "com.example"


def swish(x, *, beta):
    return (x / (1.0 + np.exp(-beta * x))).astype(x.dtype)


@hookimpl
def mace_register_ops(register):
    register(OpSchema("Swish", same_as_input(0), attrs={"beta": 1.0}, domain=DOMAIN,
                      doc="x * sigmoid(beta * x)"))


@hookimpl
def mace_register_kernels(register):
    register(KernelSpec("Swish", device="reference", fn=swish, domain=DOMAIN))
