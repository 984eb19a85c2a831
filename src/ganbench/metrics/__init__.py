"""FID: pytorch-fid's Inception (verified weights, fast CPU features) and the distance.

``ganbench.metrics.inception``: weights (build, verify, load) and feature extraction.
``ganbench.metrics.fid``: statistics, reference files, Fréchet distance, provenance.
Submodules are imported on use (torch/scipy are heavy).
"""
