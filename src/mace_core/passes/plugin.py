"""Registers the core graph passes."""

from __future__ import annotations

from mace_core._hookspecs import hookimpl


@hookimpl
def mace_register_passes(register):
    pass
