"""Loss modules: the functional losses with their options fixed in the constructor, as
torch.nn.CrossEntropyLoss and friends (`criterion = nn.CrossEntropyLoss(); criterion(x, y)`)."""
from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from .module import Module

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(loss: str, reduction: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{loss}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


class CrossEntropyLoss(Module):
    """`F.cross_entropy(input, target, ...)`: logits (N, C) against integer targets (N,), or
    (N, C, d...) against (N, d...)."""

    def __init__(self, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.ignore_index = int(ignore_index)
        self.reduction = _check_reduction("CrossEntropyLoss", reduction)
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(input, target, ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        return (f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, "
                f"label_smoothing={self.label_smoothing}")


class MSELoss(Module):
    """The squared error (input - target)^2, averaged ("mean"), added ("sum") or per element
    ("none"); input and target of the same shape (broadcasting is refused, as PyTorch warns
    that it is rarely meant)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction("MSELoss", reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        target = target if isinstance(target, Tensor) else Tensor(target)
        if input.shape != target.shape:
            raise ValueError(f"MSELoss: input of shape {input.shape} and target of shape {target.shape} "
                             "must have the same shape")
        return F.mse_loss(input, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
