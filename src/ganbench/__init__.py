"""ganbench: train, sample, evaluate and compare GAN variants reproducibly."""

__version__ = "0.1.0"
