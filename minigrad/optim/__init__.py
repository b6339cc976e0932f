"""minigrad.optim: optimizers with parameter groups (SGD, Adam, AdamW), gradient clipping, and
learning-rate schedulers in `minigrad.optim.lr_scheduler`, with PyTorch's update rules."""
from . import lr_scheduler
from .adam import Adam, AdamW
from .clip import clip_grad_norm_
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "clip_grad_norm_", "lr_scheduler"]
