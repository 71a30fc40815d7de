"""Only here because setuptools reads ``cffi_modules`` from setup(); metadata is in
pyproject.toml. The extension ``mace_cpu._native`` is built by build_ffi.py."""

from setuptools import setup

setup(cffi_modules=["build_ffi.py:ffi"])
