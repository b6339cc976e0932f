"""minigrad.nn: Module, Parameter, and the layers a Transformer needs."""
from .containers import ModuleList, Sequential
from .layers import GELU, Dropout, Embedding, LayerNorm, Linear, ReLU
from .module import IncompatibleKeys, Module
from .parameter import Parameter

__all__ = [
    "Module", "Parameter", "IncompatibleKeys",
    "Linear", "Embedding", "LayerNorm", "Dropout", "GELU", "ReLU",
    "Sequential", "ModuleList",
]
