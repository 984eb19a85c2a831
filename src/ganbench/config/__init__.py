"""Typed configuration: the schema (one dataclass per section), strict coercion, and the
one loader of params.yaml."""

from ganbench.config.coerce import deep_merge, flatten, from_dict, to_dict
from ganbench.config.loader import default_params, load_params, parse_params, read_yaml
from ganbench.config.schema import (
    AUTO,
    AutoContext,
    ClassifierParams,
    DataConfig,
    EvaluateConfig,
    MlflowConfig,
    NumericsConfig,
    Params,
    RuntimeConfig,
    SampleConfig,
    TrainConfig,
)

__all__ = [
    "AUTO",
    "AutoContext",
    "ClassifierParams",
    "DataConfig",
    "EvaluateConfig",
    "MlflowConfig",
    "NumericsConfig",
    "Params",
    "RuntimeConfig",
    "SampleConfig",
    "TrainConfig",
    "deep_merge",
    "default_params",
    "flatten",
    "from_dict",
    "load_params",
    "parse_params",
    "read_yaml",
    "to_dict",
]
