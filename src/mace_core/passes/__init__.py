"""Graph passes that run at conversion time (registered in ``passes/plugin.py``, in order):

constant_folding, cleanup, batchnorm_folding, bias_fusion, activation_fusion, dead_nodes,
layout. ``constant_folding.fold_and_infer`` is shape inference that folds as it goes, for
graphs fresh from a frontend; ``layout.insert_layout_transforms`` is for placed graphs.
"""
