"""Channels-last (TensorFlow / TFLite) source graphs -> NCHW mace-core graphs.

``builder`` tracks the layout of every source tensor; ``tensor_ops``, ``nn_ops`` and
``strided_slice`` emit ONNX-semantics nodes for source ops given in source (NHWC) terms.
Shared by the TensorFlow and TFLite frontends.
"""
