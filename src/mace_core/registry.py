"""The registry: everything the loaded plugins registered, with lookups used by the runtime."""

from __future__ import annotations

import functools
from collections.abc import Iterable

import pluggy

from mace_core.errors import DeviceUnavailable, PluginError, UnsupportedOpError
from mace_core.ir import Node
from mace_core.plugins import PluginStatus, get_plugin_manager
from mace_core.schema import OpSchema
from mace_core.specs import Capabilities, ConverterSpec, Device, KernelSpec, PassSpec


class Registry:
    """Op schemas, kernels, devices, passes and converters from one plugin manager."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.schemas: dict[tuple[str, str], OpSchema] = {}
        self.kernels: dict[tuple[str, str], list[KernelSpec]] = {}
        self.devices: dict[str, Device] = {}
        self.passes: list[PassSpec] = []
        self.converters: dict[str, ConverterSpec] = {}
        self._probes: dict[str, Capabilities | DeviceUnavailable] = {}
        hook = pm.hook
        hook.mace_register_ops(register=self._add_schema)
        hook.mace_register_devices(register=self._add_device)
        hook.mace_register_kernels(register=self._add_kernel)
        hook.mace_register_passes(register=self._add_pass)
        hook.mace_register_converters(register=self._add_converter)
        self.passes.sort(key=lambda p: (p.order, p.name))

    # -- registration callbacks ----------------------------------------------------
    def _add_schema(self, schema: OpSchema) -> None:
        if schema.key in self.schemas:
            raise PluginError(f"op {schema.domain}::{schema.op_type} is registered twice")
        self.schemas[schema.key] = schema

    def _add_device(self, device: Device) -> None:
        if device.name in self.devices:
            raise PluginError(f"device {device.name!r} is registered twice")
        self.devices[device.name] = device

    def _add_kernel(self, kernel: KernelSpec) -> None:
        self.kernels.setdefault(kernel.key, []).append(kernel)

    def _add_pass(self, spec: PassSpec) -> None:
        self.passes.append(spec)

    def _add_converter(self, spec: ConverterSpec) -> None:
        self.converters[spec.format] = spec

    # -- lookups -----------------------------------------------------------------
    @property
    def plugin_status(self) -> list[PluginStatus]:
        return list(getattr(self.pm, "mace_status", []))

    def schema(self, node: Node) -> OpSchema:
        try:
            return self.schemas[node.op_key]
        except KeyError:
            raise UnsupportedOpError(unsupported_message([node])) from None

    def probe(self, device: str) -> Capabilities:
        """Capabilities of ``device``; raises DeviceUnavailable (cached per registry)."""
        if device not in self.devices:
            known = ", ".join(sorted(self.devices)) or "none"
            raise DeviceUnavailable(
                f"no device named {device!r} is registered (known: {known}); "
                "install its plugin, e.g. `pip install mace-cpu` or `pip install mace-gpu-opencl`"
            )
        if device not in self._probes:
            try:
                self._probes[device] = self.devices[device].probe()
            except DeviceUnavailable as exc:
                self._probes[device] = exc
            except Exception as exc:  # a probe must never crash the runtime
                self._probes[device] = DeviceUnavailable(
                    f"probe of {device!r} failed: {type(exc).__name__}: {exc}"
                )
        result = self._probes[device]
        if isinstance(result, DeviceUnavailable):
            raise result
        return result

    def kernels_for(self, node: Node, device: str) -> list[KernelSpec]:
        """Kernels of ``device`` for this op, best first."""
        found = [k for k in self.kernels.get(node.op_key, []) if k.device == device]
        return sorted(found, key=lambda k: -k.priority)

    def converter_for(self, path, format: str | None = None) -> ConverterSpec:
        from pathlib import Path

        path = Path(path)
        if format is not None:
            if format not in self.converters:
                raise PluginError(_no_converter(format, self.converters))
            return self.converters[format]
        for spec in self.converters.values():
            if spec.sniff is not None and spec.sniff(path):
                return spec
        for spec in self.converters.values():
            if path.suffix.lower() in spec.suffixes:
                return spec
        raise PluginError(_no_converter(path.suffix or path.name, self.converters))


def _no_converter(what: str, converters: dict[str, ConverterSpec]) -> str:
    known = ", ".join(sorted(converters)) or "none installed"
    return (
        f"no frontend for {what!r} (available: {known}); install one with "
        "`pip install 'mace-converters[onnx]'` (or [tensorflow], [tflite])"
    )


def unsupported_message(nodes: Iterable[Node]) -> str:
    by_op: dict[str, list[str]] = {}
    for node in nodes:
        by_op.setdefault(node.qualified_op, []).append(node.name)
    lines = [f"{len(by_op)} op type(s) are not supported:"]
    for op, names in sorted(by_op.items()):
        shown = ", ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5 else "")
        lines.append(f"  {op}: {shown}")
    lines.append(
        "Add them with a custom-op plugin: a small package with an OpSchema and a reference "
        "kernel registered under the 'mace_core' entry-point group (see "
        "examples/custom_op_plugin and docs/custom_ops.md)."
    )
    return "\n".join(lines)


@functools.lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The process-wide registry built from installed plugins (cached)."""
    return Registry(get_plugin_manager())
