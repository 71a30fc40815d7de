"""The cpu device's kernels, one module per op family; ``all_kernels()`` lists them."""

from __future__ import annotations

from mace_core.specs import KernelSpec


def all_kernels() -> list[KernelSpec]:
    from mace_cpu.kernels import (
        conv,
        eltwise,
        filterbank,
        gemm,
        layout,
        lstm,
        norm,
        pointwise,
        pool,
        qgemm,
        rearrange,
        select,
        shape,
    )

    return [*conv.KERNELS, *gemm.KERNELS, *pool.KERNELS, *eltwise.KERNELS, *shape.KERNELS,
            *layout.KERNELS, *norm.KERNELS, *filterbank.KERNELS,
            *select.KERNELS, *pointwise.KERNELS, *rearrange.KERNELS, *lstm.KERNELS,
            *qgemm.KERNELS]
