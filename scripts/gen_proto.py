#!/usr/bin/env python3
"""Regenerate ``mace_model_pb2.py`` from ``mace_model.proto`` with a pinned protoc.

    python scripts/gen_proto.py            # rewrite src/mace_core/model_format/mace_model_pb2.py
    python scripts/gen_proto.py DIR        # write DIR/mace_model_pb2.py instead
    python scripts/gen_proto.py --check    # exit 1 (and print a diff) if the checked-in file
                                           # differs from a fresh generation

The compiler is protoc 29 from ``grpcio-tools==1.71.0``, installed in its own virtual
environment (default ``~/.cache/mace-protoc-venv``, or ``$MACE_PROTOC_VENV``) which this
script creates when missing. Its gencode (5.29) runs on protobuf runtimes >= 5.29.
The command line is always the same (proto path relative to ``src/``), so the output is
byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

GRPCIO_TOOLS = "grpcio-tools==1.71.0"
REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
PROTO = Path("mace_core/model_format/mace_model.proto")  # relative to SRC
GENERATED = PROTO.with_name("mace_model_pb2.py")
DEFAULT_VENV = Path.home() / ".cache" / "mace-protoc-venv"


def venv_python(venv: Path) -> Path:
    """The interpreter of ``venv`` (POSIX or Windows layout)."""
    unix = venv / "bin" / "python"
    return unix if unix.exists() or os.name != "nt" else venv / "Scripts" / "python.exe"


def has_pinned_tools(python: Path) -> bool:
    """Whether ``python`` exists and has exactly the pinned grpcio-tools installed."""
    if not python.exists():
        return False
    wanted = GRPCIO_TOOLS.split("==")[1]
    probe = "import importlib.metadata as m; print(m.version('grpcio-tools'))"
    result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
    return result.returncode == 0 and result.stdout.strip() == wanted


def ensure_venv(venv: Path) -> Path:
    """Create ``venv`` with the pinned grpcio-tools unless it is already there; its python."""
    python = venv_python(venv)
    if has_pinned_tools(python):
        return python
    if not python.exists():
        print(f"creating {venv} for {GRPCIO_TOOLS}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv_python(venv)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         GRPCIO_TOOLS],
        check=True,
    )
    return python


def generate(python: Path, out_dir: Path) -> Path:
    """Run protoc into ``out_dir``; returns the path of the generated module."""
    with tempfile.TemporaryDirectory(prefix="mace-protoc-") as tmp:
        cmd = [str(python), "-m", "grpc_tools.protoc", "--proto_path=.",
               f"--python_out={tmp}", PROTO.as_posix()]
        result = subprocess.run(cmd, cwd=SRC, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"protoc failed ({' '.join(cmd)}):\n{result.stderr}")
        produced = Path(tmp) / GENERATED
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / GENERATED.name
        target.write_bytes(produced.read_bytes())
    return target


def check(python: Path) -> int:
    """Compare a fresh generation with the checked-in module; 0 when identical."""
    current = SRC / GENERATED
    with tempfile.TemporaryDirectory(prefix="mace-proto-check-") as tmp:
        fresh = generate(python, Path(tmp)).read_text()
    old = current.read_text() if current.exists() else ""
    if fresh == old:
        print(f"{current.relative_to(REPO)} is up to date")
        return 0
    diff = difflib.unified_diff(
        old.splitlines(keepends=True), fresh.splitlines(keepends=True),
        fromfile=f"{GENERATED} (checked in)", tofile=f"{GENERATED} (regenerated)",
    )
    sys.stdout.writelines(diff)
    print(f"\n{current.relative_to(REPO)} is stale: run `python scripts/gen_proto.py`",
          file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", default=SRC / GENERATED.parent,
                        help="directory for mace_model_pb2.py (default: next to the .proto)")
    parser.add_argument("--out", dest="out_option", type=Path, help="same as OUT")
    parser.add_argument("--check", action="store_true",
                        help="do not write; fail with a diff if the checked-in file is stale")
    parser.add_argument("--venv", type=Path,
                        default=Path(os.environ.get("MACE_PROTOC_VENV", DEFAULT_VENV)),
                        help="virtual environment holding grpcio-tools (created if missing)")
    args = parser.parse_args(argv)
    try:
        python = ensure_venv(args.venv)
    except (OSError, subprocess.CalledProcessError) as exc:
        sys.exit(f"cannot set up {GRPCIO_TOOLS} in {args.venv}: {exc}")
    if args.check:
        return check(python)
    target = generate(python, args.out_option or args.out)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
