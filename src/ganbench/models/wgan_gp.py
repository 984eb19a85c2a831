"""WGAN-GP (Gulrajani et al. 2017): DCGAN networks with a normalisation-free critic.

The generator is DCGAN's.  The critic is DCGAN's discriminator without
BatchNorm (the gradient penalty is per sample, and BatchNorm makes each score
depend on the whole batch); the paper's recommended layer normalisation is used
instead, and the output is an unbounded score (no sigmoid).  Training uses the
``wasserstein_gp`` objective (λ = 10, n_critic = 5) and Adam(1e-4, β = (0, 0.9)),
the paper's settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ganbench.errors import ParamsError
from ganbench.models import register_variant
from ganbench.losses.wasserstein_gp import WassersteinGPConfig
from ganbench.models.base import Geometry, OptimizerConfig, VariantConfig, VariantSpec
from ganbench.models.dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator


@dataclass(frozen=True)
class WGANGPConfig(DCGANConfig):
    """DCGAN's config with critic defaults suited to a gradient penalty."""

    #: BatchNorm in the critic: not allowed (it couples the samples the penalty treats separately).
    d_batchnorm: bool = False
    #: Layer norm in the critic (per-sample, safe with the gradient penalty).
    d_layernorm: bool = True

    def validate(self, prefix: str) -> None:
        super().validate(prefix)
        if self.d_batchnorm:
            raise ParamsError(
                f"'{prefix}.d_batchnorm: true' is not allowed for a WGAN-GP critic: BatchNorm "
                "mixes samples, which invalidates the per-sample gradient penalty; use "
                f"'{prefix}.d_layernorm: true' (default) or no normalisation")


def build(cfg: WGANGPConfig, geometry: Geometry) -> tuple[nn.Module, nn.Module]:
    return DCGANGenerator(cfg, geometry), DCGANDiscriminator(cfg, geometry)


#: Gulrajani et al. 2017, Algorithm 1: Adam(1e-4, β = (0, 0.9)), λ = 10, n_critic = 5.
WGAN_GP_ADAM = OptimizerConfig(name="adam", lr=1e-4, betas=(0.0, 0.9))

SPEC = register_variant(
    VariantSpec(
        name="wgan_gp",
        model_config=WGANGPConfig,
        build=build,
        default=VariantConfig(model=WGANGPConfig(),
                              loss=WassersteinGPConfig(gp_weight=10.0, n_critic=5),
                              g_optim=WGAN_GP_ADAM, d_optim=WGAN_GP_ADAM),
    )
)
