"""minigrad.nn: Module, Parameter, the layers a Transformer needs, losses and initializers."""
from . import init
from .containers import ModuleDict, ModuleList, ParameterList, Sequential
from .layers import (
    GELU,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from .loss import CrossEntropyLoss
from .module import IncompatibleKeys, Module, evaluating
from .parameter import Parameter

__all__ = [
    "Module", "Parameter", "IncompatibleKeys", "evaluating",
    "Linear", "Embedding", "LayerNorm", "Dropout", "GELU", "ReLU", "Tanh", "Sigmoid", "Softmax",
    "Identity", "Flatten",
    "CrossEntropyLoss",
    "Sequential", "ModuleList", "ModuleDict", "ParameterList",
    "init",
]
