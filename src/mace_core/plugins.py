"""Plugin loading: entry points of group ``mace_core``, steered by environment variables.

``MACE_CORE_PLUGINS=a,b``          load only these entry points (names as in ``mace plugins``)
``MACE_CORE_DISABLE_PLUGINS=a,b``  load everything except these

Built-in pieces (reference device, core passes, memory planner) load through this same path.
"""

from __future__ import annotations

import importlib
import os
from importlib import metadata

import attrs
import pluggy

from mace_core import _hookspecs

GROUP = "mace_core"


@attrs.frozen
class PluginStatus:
    """How loading one entry point went: ``loaded``, ``disabled`` or ``failed``."""

    name: str
    module: str
    distribution: str
    version: str
    state: str
    reason: str = ""


def _env_list(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def get_plugin_manager(*, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh plugin manager with the hookspecs added and entry points loaded.

    The loading report is kept on the manager as ``pm.mace_status`` (list of PluginStatus).
    """
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(_hookspecs)
    statuses: list[PluginStatus] = []
    pm.mace_status = statuses  # type: ignore[attr-defined]
    if not load_entry_points:
        return pm
    allow = _env_list("MACE_CORE_PLUGINS")
    deny = _env_list("MACE_CORE_DISABLE_PLUGINS") or set()
    for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist else "?"
        version = ep.dist.version if ep.dist else "?"
        if ep.name in deny or (allow is not None and ep.name not in allow):
            var = "MACE_CORE_DISABLE_PLUGINS" if ep.name in deny else "MACE_CORE_PLUGINS"
            statuses.append(
                PluginStatus(ep.name, ep.value, dist, version, "disabled", f"excluded by {var}")
            )
            continue
        if pm.has_plugin(ep.name):
            continue
        try:
            module = importlib.import_module(ep.value)
        except ImportError as exc:
            missing = getattr(exc, "name", None)
            reason = f"missing dependency {missing!r}: {exc}" if missing else str(exc)
            statuses.append(PluginStatus(ep.name, ep.value, dist, version, "failed", reason))
            continue
        except Exception as exc:  # a broken plugin must not take the core down
            reason = f"{type(exc).__name__}: {exc}"
            statuses.append(PluginStatus(ep.name, ep.value, dist, version, "failed", reason))
            continue
        pm.register(module, name=ep.name)
        statuses.append(PluginStatus(ep.name, ep.value, dist, version, "loaded"))
    pm.check_pending()
    return pm
