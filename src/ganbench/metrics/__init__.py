"""Evaluation: Inception weights (:mod:`.inception_weights`: build, verify, load) and
features (:mod:`.inception_features`), and FID statistics and distance (:mod:`.fid`).
Submodules are imported on use (torch/scipy are heavy).
"""
