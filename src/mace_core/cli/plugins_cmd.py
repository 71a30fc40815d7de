"""``mace plugins`` and ``mace devices``: what loaded, and what this machine offers."""

from __future__ import annotations


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "plugins", help="list plugins, their versions, and why any did not load",
        description="List the entry points of group 'mace_core': distribution, version, state "
        "(loaded / disabled / failed) and the reason. Steer loading with MACE_CORE_PLUGINS "
        "(allow list) and MACE_CORE_DISABLE_PLUGINS (block list), comma separated.",
    )
    p.set_defaults(func=run_plugins)
    d = sub.add_parser(
        "devices", help="probe the devices and show their capabilities",
        description="Probe every registered device; show its capabilities, or why it cannot "
        "be used here (e.g. no OpenCL platform).",
    )
    d.set_defaults(func=run_devices)


def run_plugins(args) -> int:
    from mace_core.registry import default_registry

    registry = default_registry()
    print(f"  {'name':<16} {'distribution':<20} {'version':<10} {'state':<9} details")
    for s in registry.plugin_status:
        print(f"  {s.name:<16} {s.distribution:<20} {s.version:<10} {s.state:<9} "
              f"{s.reason or s.module}")
    n_kernels = sum(len(v) for v in registry.kernels.values())
    print(f"\n  {len(registry.schemas)} op schemas, {n_kernels} kernels, "
          f"{len(registry.devices)} devices, {len(registry.passes)} passes, "
          f"converters: {', '.join(sorted(registry.converters)) or 'none'}")
    return 0


def run_devices(args) -> int:
    from mace_core.errors import DeviceUnavailable
    from mace_core.registry import default_registry

    registry = default_registry()
    for name in sorted(registry.devices):
        kernels = sum(1 for ks in registry.kernels.values() for k in ks if k.device == name)
        try:
            caps = registry.probe(name)
        except DeviceUnavailable as exc:
            print(f"{name}: unavailable: {exc}")
            continue
        print(f"{name}: {caps.kind}, {caps.description} ({kernels} kernels, "
              f"layout {caps.preferred_layout.value})")
        for key, value in caps.details.items():
            print(f"    {key}: {value}")
    return 0
