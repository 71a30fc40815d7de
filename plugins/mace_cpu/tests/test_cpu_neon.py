"""The kernel sources built for AArch64 and run under qemu-aarch64 against golden outputs
of the numpy reference kernels (tests/cpu_golden.py, tests/neon/harness.c).

``-cpu max`` has every extension (dotprod, fp16, sve...), ``-cpu cortex-a53`` is a plain
ARMv8.0 core: both must pass on the neon and scalar paths, serially and with 2 threads.
Needs the cross compiler and qemu-user:
apt-get install -y --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cpu_golden import Q8GEMM, write_golden

PLUGIN = Path(__file__).resolve().parent.parent
CSRC = PLUGIN / "csrc"
HARNESS = PLUGIN / "tests" / "neon" / "harness.c"
CROSS_CC = shutil.which("aarch64-linux-gnu-gcc")
QEMU = shutil.which("qemu-aarch64")
APT = ("apt-get install -y --no-install-recommends gcc-aarch64-linux-gnu "
       "libc6-dev-arm64-cross qemu-user")


def _no_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def build(cc: str, out: Path, *flags: str) -> Path:
    sources = [str(HARNESS), *sorted(str(p) for p in CSRC.glob("*.c"))]
    cmd = [cc, "-O3", "-Wall", "-Werror", *flags, f"-I{CSRC}", *sources, "-lm", "-lpthread",
           "-o", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stderr}"
    return out


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          preexec_fn=_no_core_dumps)


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("golden") / "golden.bin"
    return path, write_golden(path)


@pytest.fixture(scope="module")
def aarch64_harness(tmp_path_factory) -> Path:
    if not (CROSS_CC and QEMU):
        pytest.skip(f"needs aarch64-linux-gnu-gcc and qemu-aarch64 ({APT})")
    return build(CROSS_CC, tmp_path_factory.mktemp("a64") / "harness", "-static")


@pytest.mark.parametrize("cpu, extensions", [
    ("max", {"asimddp", "asimdhp"}),
    ("cortex-a53", set()),
])
def test_neon_kernels_match_golden_under_qemu(aarch64_harness, golden, cpu, extensions):
    path, ncases = golden
    result = run([QEMU, "-cpu", cpu, str(aarch64_harness), str(path)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    header, *lines = result.stdout.splitlines()
    features = set(header.split("cpu features: ")[1].split(";")[0].split())
    assert extensions <= features and (extensions or "asimddp" not in features), header
    assert "best isa: neon" in header
    for isa in ("neon", "scalar"):
        passed = [line for line in lines if f"isa {isa} " in line and ": ok" in line]
        assert len(passed) == 2 * ncases, f"{isa}: {len(passed)} of {2 * ncases} runs passed"
    assert lines[-1] == f"{4 * ncases} runs, 0 failed"


@pytest.mark.parametrize("cpu, neon_path", [("max", "neondot"), ("cortex-a53", "neon")])
def test_int8_gemm_takes_the_dotprod_path_only_with_asimddp(aarch64_harness, golden, cpu,
                                                            neon_path):
    """The int8 GEMM cases run sdot (neondot) on a CPU with HWCAP_ASIMDDP and the ARMv8.0
    smull/sadalp kernel (neon) without it; the scalar ISA runs the scalar path."""
    path, _ = golden
    result = run([QEMU, "-cpu", cpu, str(aarch64_harness), str(path)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    ran = [line.split("int8 path ")[1] for line in result.stdout.splitlines()
           if " int8 path " in line]
    cases = sum(1 for kind in _golden_kinds() if kind == Q8GEMM)
    assert cases >= 4
    assert sorted(set(ran)) == sorted({f"{neon_path} (isa neon)", "scalar (isa scalar)"})
    assert ran.count(f"{neon_path} (isa neon)") == 2 * cases  # serial and 2 threads


def _golden_kinds() -> list[int]:
    from cpu_golden import cases

    return [case[0] for case in cases()]


def test_host_build_of_the_harness(golden, tmp_path):
    """The same harness built for this machine runs every ISA it supports."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no host C compiler")
    path, _ = golden
    result = run([str(build(cc, tmp_path / "harness")), str(path)])
    assert result.returncode == 0, result.stdout[-3000:]
    assert result.stdout.splitlines()[-1].endswith(" 0 failed")


def test_kernels_clean_under_address_and_undefined_sanitizers(golden, tmp_path):
    """Every kernel of every ISA this machine has, on the golden cases, under ASan + UBSan:
    any out-of-bounds access, use-after-free or undefined behaviour aborts the run."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no host C compiler")
    path, _ = golden
    exe = build(cc, tmp_path / "harness_san", "-O1", "-g", "-fno-omit-frame-pointer",
                "-fsanitize=address,undefined", "-fno-sanitize-recover=all")
    result = subprocess.run([str(exe), str(path)], capture_output=True, text=True, timeout=600,
                            preexec_fn=_no_core_dumps,
                            env={**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
                                 "UBSAN_OPTIONS": "print_stacktrace=1"})
    assert result.returncode == 0, (result.stdout[-2000:] + result.stderr[-4000:])
    assert "runtime error" not in result.stderr and "AddressSanitizer" not in result.stderr
    assert result.stdout.splitlines()[-1].endswith(" 0 failed")
    # the fused blocks (kind 19) ran fused on the x86 ISAs that have them, and only there
    block = [line for line in result.stdout.splitlines() if " kind 19 isa " in line]
    assert block
    for line in block:
        x86 = " isa avx2 " in line or " isa avx512 " in line
        assert line.endswith(" fused") == x86, line


def test_harness_reports_a_wrong_output(aarch64_harness, golden, tmp_path):
    """A golden file with one corrupted expected value must fail."""
    path, _ = golden
    data = bytearray(path.read_bytes())
    last = np.frombuffer(bytes(data[-4:]), "<f4")[0]
    data[-4:] = np.array([last + 1.0], "<f4").tobytes()  # the last case's last output
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(data))
    result = run([QEMU, "-cpu", "cortex-a53", str(aarch64_harness), str(bad)])
    assert result.returncode == 1
    assert "FAIL" in result.stdout


# fp16 arithmetic cases (cpu_golden.fp16_arith_cases): harness kinds 32 (Conv) and 33 (Gemm).
# Pass rule where fp16 arithmetic ran (harness.c F16_ARITH_TOL): max |ours - ref| <=
# 1e-2 * max |ref|. Why: the activations are rounded to fp16 (unit roundoff u = 2^-11 =
# 4.9e-4) and products are summed in fp16 over chunks of L = 64 steps of K before an fp32
# add; the worst-case bound of an L-term fp16 sum is about L * u = 3.1e-2 of sum |products|,
# the typical (random-sign) error sqrt(L) * u = 3.9e-3 of it. The cases' outputs are of the
# order of sum |products| / sqrt(K); observed 5.1e-4 .. 3.8e-3 (qemu -cpu max), so 1e-2 has margin
# while a wrong tile, lane or chunk (errors of order 1) still fails.
F16_KINDS = ("kind 32 isa ", "kind 33 isa ")


@pytest.mark.parametrize("cpu, fp16", [("max", True), ("cortex-a53", False)])
def test_fp16_arithmetic_path_taken_exactly_where_asimdhp_is(aarch64_harness, golden, cpu,
                                                             fp16):
    path, _ = golden
    result = run([QEMU, "-cpu", cpu, str(aarch64_harness), str(path)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    lines = [line for line in result.stdout.splitlines() if any(k in line for k in F16_KINDS)]
    assert len(lines) == 2 * 2 * 12  # 12 cases x neon, scalar x 1, 2 threads
    for line in lines:
        marked = line.endswith(" fp16 arithmetic")
        assert marked == (fp16 and " isa neon " in line), line
    errors = [float(line.split("rel err ")[1].split(",")[0]) for line in lines
              if line.endswith(" fp16 arithmetic")]
    if fp16:  # really fp16: errors well above fp32's, yet within the stated bound
        assert max(errors) > 1e-4 and max(errors) <= 1e-2
    else:
        assert errors == []
