"""minigrad.nn: Module, Parameter, the layers a Transformer needs, losses and initializers."""
from . import init
from .containers import ModuleDict, ModuleList, ParameterList, Sequential
from .init import skip_init
from .layers import (
    GELU,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    ReLU,
    RMSNorm,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from .loss import CrossEntropyLoss, MSELoss
from .module import IncompatibleKeys, Module, evaluating
from .parameter import Parameter

__all__ = [
    "Module", "Parameter", "IncompatibleKeys", "evaluating",
    "Linear", "Embedding", "LayerNorm", "RMSNorm", "Dropout", "GELU", "ReLU", "SiLU", "Tanh", "Sigmoid",
    "Softmax", "Identity", "Flatten",
    "CrossEntropyLoss", "MSELoss",
    "Sequential", "ModuleList", "ModuleDict", "ParameterList",
    "init", "skip_init",
]
