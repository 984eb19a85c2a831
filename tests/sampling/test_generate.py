"""Drawing samples: seeded inputs independent of each other and of the caller's RNG,
the truncation rule in one place, BatchNorm modes, byte-stable files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganbench.errors import DataError
from ganbench.models import VARIANTS
from ganbench.models.base import Geometry
from ganbench.sampling.files import as_uint8, load_samples, make_grid, save_samples
from ganbench.sampling.generate import generate, resolve_truncation, to_unit_float
from ganbench.sampling.latents import derived_seed, grid_inputs, labels, latents, noise_generator

TINY = {
    "dcgan": {"z_dim": 8, "g_channels": 4, "d_channels": 4},
    "stylegan": {"z_dim": 16, "w_dim": 16, "g_channel_base": 64, "g_channel_max": 8,
                 "d_channel_base": 64, "d_channel_max": 8},
}


def build(name: str):
    spec = VARIANTS.get(name)
    cfg = spec.parse({"model": TINY.get(name, {})})
    torch.manual_seed(0)
    G, _ = spec.build(cfg.model, Geometry(1, 32, 0))
    return G


def visible_noise(G):
    with torch.no_grad():  # noise strengths start at 0; make the noise visible
        for name, p in G.named_parameters():
            if name.endswith("strength"):
                p.fill_(1.0)
    return G


def test_seeded_noise_is_reproducible_and_leaves_the_callers_rng_alone():
    G = visible_noise(build("stylegan"))
    z = latents(6, G.z_dim, 0)
    torch.manual_seed(1)
    a = generate(G, z, noise=noise_generator(7))
    after = torch.rand(1)
    torch.manual_seed(2)  # another caller state: the same noise seed gives the same images
    b = generate(G, z, noise=noise_generator(7))
    c = generate(G, z, noise=noise_generator(8))
    assert (a == b).all() and (a != c).any()
    torch.manual_seed(1)
    generate(G, z, noise=noise_generator(7))
    assert torch.equal(torch.rand(1), after)  # the caller's stream did not move


def test_no_samples_noise_equals_any_latent():
    """The noise stream is derived from, but independent of, the latent seed: no run of
    noise values reappears anywhere in the latents (with one shared stream, sample i's
    noise would be the latent of another sample)."""
    G = build("stylegan")
    n, seed = 500, 123
    stream = latents(n, G.z_dim, seed).flatten().numpy()
    windows = {tuple(stream[i : i + 4]) for i in range(len(stream) - 3)}
    noise = G.draw_noise(n, noise_generator(seed))
    for layer in noise:
        flat = layer.flatten().numpy()
        hits = sum(tuple(flat[i : i + 4]) in windows for i in range(0, len(flat) - 3, 4))
        assert hits == 0
    assert derived_seed(seed, "noise") != seed and derived_seed(seed, "noise") == derived_seed(seed, "noise")


def test_noise_comes_from_the_cpu_generator_whatever_the_device():
    G = build("stylegan")
    a = G.draw_noise(3, noise_generator(5))
    b = G.draw_noise(3, noise_generator(5))
    assert all(t.device.type == "cpu" and torch.equal(t, u) for t, u in zip(a, b))
    assert [t.shape[-1] for t in a] == G.synthesis.noise_resolutions


def test_truncation_rule_lives_in_one_place():
    dcgan, style = build("dcgan"), build("stylegan")
    assert resolve_truncation(style, 0.7, strict=True) == 0.7
    assert resolve_truncation(dcgan, 0.7, strict=False) == 1.0  # ignored and recorded as 1.0
    with pytest.raises(ValueError, match="no mapping network"):
        resolve_truncation(dcgan, 0.7, strict=True)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        resolve_truncation(style, 1.5, strict=False)


def test_batch_statistics_mode_leaves_the_running_statistics_alone():
    G = build("dcgan")
    before = {k: v.clone() for k, v in G.state_dict().items()}
    z = latents(16, G.z_dim, 0)
    running = generate(G, z, batch_size=8, batchnorm="running")
    batch = generate(G, z, batch_size=8, batchnorm="batch")
    assert not np.array_equal(running, batch)
    for k, v in G.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert G.training  # the caller's mode is restored


def test_each_batchnorm_mode_normalises_with_the_statistics_it_names():
    """"running": an image depends on its latent alone (eval-mode BatchNorm), as G.eval()
    makes it; "batch": on its batch-mates too (each batch's own statistics)."""
    G = build("dcgan")
    z = latents(12, G.z_dim, 0)
    mates = torch.cat([z[:4], z[8:]])  # the same first four latents, other batch-mates
    for mode, depends in (("running", False), ("batch", True)):
        a = generate(G, z[:8], batch_size=8, batchnorm=mode, dtype="float32")[:4]
        b = generate(G, mates, batch_size=8, batchnorm=mode, dtype="float32")[:4]
        assert (not np.allclose(a, b, atol=1e-5)) == depends, mode
    with torch.inference_mode():
        expected = to_unit_float(G.eval()(z[:8], None))
    G.train()
    running = generate(G, z[:8], batch_size=8, batchnorm="running", dtype="float32")
    np.testing.assert_allclose(running, expected.numpy(), atol=1e-5)


def test_labels_and_grid_layout():
    assert labels(5, 0) is None
    assert labels(5, 3).tolist() == [0, 1, 2, 0, 1]
    z, c, nrow = grid_inputs(8, 20, 0, 10)
    assert nrow == 2 and c.tolist()[:4] == [0, 0, 1, 1] and len(z) == 20
    z, c, nrow = grid_inputs(8, 16, 0, 0)
    assert c is None and nrow == 4


def test_sample_files_are_byte_stable_and_checked(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 1, 8, 8), dtype=np.uint8)
    save_samples(images, tmp_path / "a.npz", meta={"seed": 1})
    save_samples(images, tmp_path / "b.npz", meta={"seed": 1})
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    back, meta = load_samples(tmp_path / "a.npz")
    assert np.array_equal(back, images) and meta == {"seed": 1}
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="bad.npz.*re-run the sample stage"):
        load_samples(tmp_path / "bad.npz")
    with pytest.raises(DataError, match="not found"):
        load_samples(tmp_path / "missing.npz")
    assert make_grid(images, nrow=5).shape == (12, 52)


def test_float_samples_are_the_unrounded_uint8_ones(tmp_path):
    """sample.dtype float32: the generator's output in [0, 1], unrounded; rounded, it gives
    the uint8 samples (to one level where float rounding sits on a .5); both kinds of file
    round-trip, and anything else is refused with the fix."""
    G = build("dcgan")
    z = latents(6, G.z_dim, 0)
    as_bytes = generate(G, z)
    as_float = generate(G, z, dtype="float32")
    assert as_bytes.dtype == np.uint8 and as_float.dtype == np.float32
    assert as_float.min() >= 0.0 and as_float.max() <= 1.0
    assert not np.array_equal(as_float * 255, as_float.round())  # not quantised
    rounded = as_uint8(as_float)  # what evaluate gives the domain classifier
    assert rounded.dtype == np.uint8 and as_uint8(as_bytes) is as_bytes
    assert np.array_equal(rounded, np.rint(as_float.astype(np.float64) * 255))
    assert np.abs(rounded.astype(int) - as_bytes).max() <= 1 and (rounded == as_bytes).mean() > 0.99
    save_samples(as_float, tmp_path / "f.npz", meta={"dtype": "float32"})
    back, meta = load_samples(tmp_path / "f.npz")
    assert back.dtype == np.float32 and np.array_equal(back, as_float) and meta == {"dtype": "float32"}
    with pytest.raises(ValueError, match="float32 pixels must be finite and in \\[0, 1\\]"):
        save_samples(as_float * 2, tmp_path / "g.npz")
    with pytest.raises(ValueError, match="uint8 or float32, got float64"):
        save_samples(as_float.astype(np.float64), tmp_path / "g.npz")
    with pytest.raises(ValueError, match="dtype must be one of"):
        generate(G, z, dtype="float16")
    np.savez(tmp_path / "h.npz", images=as_float * 2)
    with pytest.raises(DataError, match="h.npz: 'images' float32 pixels must be .*re-run the sample stage"):
        load_samples(tmp_path / "h.npz")
