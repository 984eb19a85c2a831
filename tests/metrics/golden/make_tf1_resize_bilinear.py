"""Golden values of TF1's legacy tf.image.resize_bilinear (align_corners=False,
half_pixel_centers=False) for tests/metrics/test_inception.py, made with tensorflow-cpu 2.21
(tf.compat.v1.image.resize_bilinear): python make_tf1_resize_bilinear.py tf1_resize_bilinear.npz"""
import sys

import numpy as np
import tensorflow as tf

rng = np.random.default_rng(20181206)
cases = {}
for name, (h, w, oh, ow) in {"up_28_299": (28, 28, 299, 299), "up_5x7_13x11": (5, 7, 13, 11),
                               "down_7x5_3x4": (7, 5, 3, 4)}.items():
    x = rng.integers(0, 256, size=(2, h, w, 1)).astype(np.float32)
    y = tf.compat.v1.image.resize_bilinear(x, [oh, ow], align_corners=False, half_pixel_centers=False).numpy()
    cases[name + "_in"] = x.transpose(0, 3, 1, 2)     # NCHW
    out = y.transpose(0, 3, 1, 2)
    if name == "up_28_299":
        idx = np.array(list(range(0, 299, 7)) + [297, 298])
        cases[name + "_rows"] = idx
        out = out[:, :, idx][:, :, :, idx]
    cases[name + "_out"] = out
np.savez_compressed(sys.argv[1], tf_version=np.array(tf.__version__), **cases)
print(tf.__version__, {k: v.shape for k, v in cases.items()})
