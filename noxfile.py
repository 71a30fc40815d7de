"""nox sessions: lint, tests per distribution, the proto check and benchmarks."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests_core", "tests_converters"]
nox.options.reuse_existing_virtualenvs = True

DEV = ["pytest>=8", "hypothesis>=6.100"]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over every distribution."""
    session.install("ruff")
    session.run("ruff", "check", "src", "converters", "plugins", "examples", "tests", "scripts",
                "benchmarks", "noxfile.py")


@nox.session
def tests_core(session: nox.Session) -> None:
    """mace-core alone (no onnx, no onnxruntime): tests that need them skip with the reason."""
    session.install(*DEV)
    session.install("-e", ".")
    session.env["MACE_ALLOW_SKIP_HEAVY"] = "1"  # TensorFlow / LiteRT tests skip, saying why
    session.run("pytest", "-m", "not slow", "tests", *session.posargs)


@nox.session
def tests_converters(session: nox.Session) -> None:
    """mace-core + mace-converters[onnx]: the core and ONNX tests (the TensorFlow / TFLite
    ones skip, saying why; scripts/test.sh runs everything)."""
    session.install(*DEV)
    session.install("-e", ".", "-e", "converters[onnx]")
    session.env["MACE_ALLOW_SKIP_HEAVY"] = "1"
    session.run("pytest", "tests", *session.posargs)


@nox.session
def proto(session: nox.Session) -> None:
    """Regenerate the model-format protobuf code and fail if it differs from the repo."""
    session.run("python", "scripts/gen_proto.py", "--check", external=True)


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """CPU model benchmark against the peer engines: benchmarks/setup.sh makes its own venv
    (benchmarks/.venv: tensorflow, tf2onnx, LiteRT, ncnn, MNN...), then run_models.py writes
    benchmarks/results/<date>-cpu.{md,json,png}. Arguments go to run_models.py (--quick...)."""
    session.run("bash", "benchmarks/setup.sh", external=True)
    session.run("benchmarks/.venv/bin/python", "benchmarks/run_models.py", *session.posargs,
                external=True)


@nox.session
def tests_gpu(session: nox.Session) -> None:
    """mace-gpu-opencl on the machine's OpenCL platform (PoCL in CI: apt pocl-opencl-icd)."""
    session.install(*DEV)
    session.install("-e", ".", "-e", "plugins/mace_gpu_opencl", "-e", "converters[onnx]")
    session.run("pytest", "plugins/mace_gpu_opencl/tests", *session.posargs)


@nox.session
def tests_cpu(session: nox.Session) -> None:
    """mace-cpu: kernel conformance on every ISA of this CPU, NEON under qemu-aarch64."""
    session.install(*DEV, "cffi>=1.16", "setuptools>=77")
    session.install("-e", ".", "-e", "converters[onnx]")
    session.install("--no-build-isolation", "-e", "plugins/mace_cpu")
    session.run("pytest", "plugins/mace_cpu/tests", *session.posargs)


@nox.session
def sanitize(session: nox.Session) -> None:
    """mace-cpu kernels built with -fsanitize=address,undefined into the C conformance
    harness, run on golden cases from the reference device, on every ISA of this CPU."""
    session.install(*DEV, "cffi>=1.16", "setuptools>=77")
    session.install("-e", ".", "-e", "converters[onnx]")
    session.install("--no-build-isolation", "-e", "plugins/mace_cpu")
    session.run("pytest", "plugins/mace_cpu/tests/test_cpu_neon.py", "-k", "sanitizers",
                *session.posargs)
