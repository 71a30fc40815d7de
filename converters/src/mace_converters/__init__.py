"""Model frontends for mace-core: ONNX now; each frontend's framework is an optional extra."""

__version__ = "0.1.0"
