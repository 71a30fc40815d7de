"""cffi build of the mace-cpu kernels (out-of-line API mode) into ``mace_cpu._native``.

Used by setup.py through ``cffi_modules``; ``python build_ffi.py [OUTDIR]`` builds the
module on its own (default: ``src/``, next to the package). The C sources are compiled with
``-O3`` and no ``-march`` flag: ISA-specific kernels carry per-function target attributes
and are picked at run time, so one build runs on every CPU of its architecture.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
CSRC = HERE / "csrc"


def _path(p: Path) -> str:
    """Relative when setup.py runs from this directory (setuptools wants relative paths),
    absolute otherwise (``ffi.compile`` compiles inside its tmpdir)."""
    return os.path.relpath(p, HERE) if Path.cwd() == HERE else str(p)


def cdef_text() -> str:
    """The public header without preprocessor lines: what cffi's cdef accepts."""
    lines = (CSRC / "mace_cpu.h").read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


ffi = FFI()
ffi.cdef(cdef_text())
ffi.set_source(
    "mace_cpu._native",
    '#include "mace_cpu.h"',
    sources=[_path(p) for p in sorted(CSRC.glob("*.c"))],
    include_dirs=[_path(CSRC)],
    depends=[_path(p) for p in sorted(CSRC.glob("*.h"))],
    # -fno-wrapv undoes the -fwrapv in Python's CFLAGS, which stops gcc from vectorising
    # loops whose indices are computed in int; -fno-math-errno lets sqrtf vectorise.
    extra_compile_args=["-O3", "-fno-wrapv", "-fno-math-errno", "-std=gnu11", "-Wall",
                        "-pthread"],
    extra_link_args=["-pthread"],
    libraries=["m"],
)

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else HERE / "src").resolve()
    print(ffi.compile(tmpdir=str(out), verbose=False))
