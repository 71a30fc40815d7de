"""CPU clusters from sysfs and the ``cpu_affinity`` session option (like MACE's
CPUAffinityPolicy).

Cores are grouped into clusters by ``cpufreq/cpuinfo_max_freq``, else by ``cpu_capacity``
(arm64 device trees, some x86 hybrids), else they form one cluster. Clusters are ordered
fastest first. Policies:

``none``    no pinning (default): the OS schedules the pool's threads anywhere, except that
            while a fused partition runs (mace_cpu.fused) the workers keep off the CPU the
            calling thread is on (an OS that stacks a worker there does not move it back).
``big``     every cluster but the slowest (big.LITTLE 4+4: the 4 big cores; 4+3+1: the 3
            big and the prime core). With a single cluster: all of its cores.
``little``  the slowest cluster only (a single cluster: all of its cores).
a CPU list  explicit CPUs in the kernel's list syntax, e.g. ``"4-7"`` or ``"0,2"``.

Under a policy the pool's workers run only on those cores and ``cpu_threads`` defaults to
their number. The thread that runs the session is pinned to them from its first op and
stays so between ops and runs (pinning around every op would cost ~5 us per op); it gets
its own mask back when it runs ops of a session with another policy (or none), or when the
session is freed from that thread. CPUs outside the process's allowed set (taskset, a
cgroup cpuset) are an error, not a warning: a policy asked for explicitly should not
silently run elsewhere; so is an OS refusal (EPERM / EINVAL) when the pool is made.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mace_core.errors import MaceError

SYSFS_CPU = Path("/sys/devices/system/cpu")
POLICIES = ("none", "big", "little")
_CPU_LIST = re.compile(r"^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$")


@dataclass(frozen=True)
class Cluster:
    """Cores of equal speed: their max frequency (kHz) or capacity, whichever sysfs has."""

    cpus: tuple[int, ...]
    max_freq_khz: int | None = None
    capacity: int | None = None

    def describe(self) -> str:
        """``"4-7 @ 2.42 GHz"``, ``"0-3 (capacity 512)"`` or just ``"0-1"``."""
        if self.max_freq_khz is not None:
            return f"{format_cpus(self.cpus)} @ {self.max_freq_khz / 1e6:.2f} GHz"
        if self.capacity is not None:
            return f"{format_cpus(self.cpus)} (capacity {self.capacity})"
        return format_cpus(self.cpus)


def parse_cpus(text: str) -> tuple[int, ...]:
    """``"0-3,6"`` -> ``(0, 1, 2, 3, 6)``; ValueError when it is not a CPU list."""
    if not _CPU_LIST.match(text):
        raise ValueError(f"not a CPU list: {text!r}")
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        lo, hi = int(first), int(last or first)
        if hi < lo:
            raise ValueError(f"descending range {part.strip()!r}")
        cpus.update(range(lo, hi + 1))
    return tuple(sorted(cpus))


def format_cpus(cpus: Iterable[int]) -> str:
    """``(0, 1, 2, 3, 6)`` -> ``"0-3,6"``."""
    ordered = sorted(set(cpus))
    runs: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        runs.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(runs)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def online_cpus(sysfs: Path = SYSFS_CPU) -> tuple[int, ...]:
    """Online CPUs from ``sysfs/online``, else the ``cpuN`` directories, else os.cpu_count."""
    try:
        return parse_cpus((sysfs / "online").read_text())
    except (OSError, ValueError):
        pass
    found = sorted(int(p.name[3:]) for p in sysfs.glob("cpu[0-9]*") if p.name[3:].isdigit())
    return tuple(found) or tuple(range(os.cpu_count() or 1))


def detect_clusters(sysfs: Path = SYSFS_CPU) -> list[Cluster]:
    """The online cores grouped by max frequency, else capacity, else one group; fastest
    first."""
    cpus = online_cpus(sysfs)
    freqs = {c: _read_int(sysfs / f"cpu{c}" / "cpufreq" / "cpuinfo_max_freq") for c in cpus}
    caps = {c: _read_int(sysfs / f"cpu{c}" / "cpu_capacity") for c in cpus}
    if all(v is not None for v in freqs.values()):
        key, field = freqs, "max_freq_khz"
    elif all(v is not None for v in caps.values()):
        key, field = caps, "capacity"
    else:
        return [Cluster(cpus)]
    groups: dict[int, list[int]] = {}
    for cpu in cpus:
        groups.setdefault(key[cpu], []).append(cpu)  # type: ignore[index]
    return [Cluster(tuple(groups[value]), **{field: value})
            for value in sorted(groups, reverse=True)]


def policy_cpus(policy: str, clusters: list[Cluster]) -> tuple[int, ...] | None:
    """The CPUs of ``policy`` over ``clusters`` (fastest first); None for ``none``.
    ValueError for an unknown policy."""
    policy = policy.strip().lower()
    if policy in ("", "none"):
        return None
    if policy == "big":
        chosen = clusters[:-1] if len(clusters) > 1 else clusters
        return tuple(sorted(c for cluster in chosen for c in cluster.cpus))
    if policy == "little":
        return clusters[-1].cpus
    return parse_cpus(policy)


def allowed_cpus() -> tuple[int, ...] | None:
    """The CPUs this process may run on (None where the OS does not say)."""
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return None


@functools.lru_cache(maxsize=32)
def resolve(value: str) -> tuple[int, ...] | None:
    """The CPUs a ``cpu_affinity`` value pins to (None: no pinning), checked against the
    process's allowed CPUs; MaceError naming the CPUs and the way out otherwise."""
    try:
        cpus = policy_cpus(value, detect_clusters())
    except ValueError:
        raise MaceError(
            f"cpu_affinity={value!r}: expected {', '.join(POLICIES)} or a CPU list such as "
            "'0-3' or '4,6'") from None
    if cpus is None:
        return None
    allowed = allowed_cpus()
    if allowed is None:
        raise MaceError(f"cpu_affinity={value!r}: this OS cannot pin threads to CPUs; use "
                        "cpu_affinity='none'")
    outside = sorted(set(cpus) - set(allowed))
    if outside:
        raise MaceError(
            f"cpu_affinity={value!r} means CPU(s) {format_cpus(cpus)}, but CPU(s) "
            f"{format_cpus(outside)} are outside this process's allowed CPUs "
            f"({format_cpus(allowed)}: taskset or a cgroup cpuset restricts it, or they are "
            f"offline); use a CPU list within {format_cpus(allowed)} or cpu_affinity='none'")
    return cpus


def affinity_option(options: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The CPUs the session options pin the pool to (``cpu_affinity``), or None."""
    value = options.get("cpu_affinity")
    if value is None:
        return None
    if not isinstance(value, str):
        raise MaceError(f"cpu_affinity must be a string ({', '.join(POLICIES)} or a CPU "
                        f"list), got {value!r}")
    return resolve(value)
