"""Parameter: a tensor that a Module owns and an optimizer updates."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that requires grad by default and registers itself when assigned as an
    attribute of a `Module`.

    A Parameter holds no name of its own, as in PyTorch: its qualified name (for example
    "blocks.0.attn.q_proj.weight") is where it sits in a model, which `named_parameters()`
    tells. Wrapping a numpy array or a Tensor shares its memory, as in PyTorch.
    """

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=False, dtype=dtype)
        if not np.issubdtype(self.data.dtype, np.floating):
            raise TypeError(f"Parameter: data must be floating point, got dtype {self.data.dtype}")
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
