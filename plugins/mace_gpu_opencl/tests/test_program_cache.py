"""The program cache: memory -> disk binary -> source; broken disk entries are rebuilt."""

from __future__ import annotations

import pytest
from gpu_cases import Case, check, run_case

from mace_gpu_opencl import programs

RELU = Case("cache_relu", "Relu", [(1, 5, 3, 4)])


@pytest.fixture
def cache(gpu, tmp_path, monkeypatch):
    """The runtime's program cache with an empty disk cache and empty memory."""
    monkeypatch.setenv("MACE_CACHE_DIR", str(tmp_path))
    gpu.programs.clear_memory()
    yield gpu.programs
    gpu.programs.clear_memory()


def lookups(cache, storage="buffer", half=False) -> dict[str, int]:
    before = dict(cache.stats)
    cache.get("eltwise", storage, half)
    return {k: v - before.get(k, 0) for k, v in cache.stats.items() if v != before.get(k, 0)}


def test_source_then_memory_then_disk(cache):
    path = cache.path("eltwise", programs.build_options("buffer", False))
    assert lookups(cache) == {"source": 1}
    assert path.is_file() and path.parent == programs.cache_dir()
    assert lookups(cache) == {"memory": 1}
    cache.clear_memory()
    assert lookups(cache) == {"disk": 1}
    ours, ref, _ = run_case(RELU, "buffer", False)  # kernels of the disk-built program
    check(ours, ref, False)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped_byte", "empty",
                                    "valid_wrapper_bad_binary"])
def test_broken_entry_is_rebuilt(cache, damage):
    path = cache.path("eltwise", programs.build_options("buffer", False))
    lookups(cache)
    blob = path.read_bytes()
    broken = {
        "garbage": b"not a program binary at all",
        "truncated": blob[: len(blob) // 2],
        "flipped_byte": blob[:-10] + bytes([blob[-10] ^ 0xFF]) + blob[-9:],
        "empty": b"",
        # intact container, payload the driver refuses: a stale or foreign binary
        "valid_wrapper_bad_binary": programs._pack(b"\x7fELF" + bytes(200)),
    }[damage]
    path.write_bytes(broken)
    cache.clear_memory()
    got = lookups(cache)
    assert got == {"rejected": 1, "source": 1}
    assert programs._unpack(path.read_bytes()) is not None  # rewritten intact
    ours, ref, _ = run_case(RELU, "buffer", False)
    check(ours, ref, False)
    cache.clear_memory()
    assert lookups(cache) == {"disk": 1}


def test_key_separates_options_sources_and_devices(cache, gpu):
    src = programs.source("eltwise")
    keys = {cache.key(src, programs.build_options(s, h))
            for s in ("image", "buffer") for h in (False, True)}
    assert len(keys) == 4
    assert cache.key(src + "\n", programs.build_options("image", False)) not in keys
    assert gpu.info.identity.count("|") == 3  # platform | device | version | driver


def test_unwritable_cache_dir_is_not_fatal(gpu, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("MACE_CACHE_DIR", str(blocker))
    gpu.programs.clear_memory()
    try:
        ours, ref, _ = run_case(RELU, "image", False)
        check(ours, ref, False)
    finally:
        gpu.programs.clear_memory()
