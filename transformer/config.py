"""TransformerConfig: every size and option of a TransformerLM in one dataclass.

The experiment options (`scale`, `shared_qk`, `score`, `head_dim`) are fields here and keyword
arguments of `MultiHeadAttention`; the model passes them through unchanged, so each variant
is decided in exactly one place, the attention module's constructor.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from numbers import Integral, Real
from typing import Any

POS_ENCODINGS = ("learned", "sinusoidal")
SCORES = ("dot", "additive")
ACTIVATIONS = ("gelu", "gelu_tanh", "relu")


@dataclass
class TransformerConfig:
    vocab_size: int  # number of token ids; ids are in [0, vocab_size)
    max_len: int  # longest sequence the model accepts (size of the position table)
    d_model: int = 64  # width of every token's vector, the residual stream
    n_heads: int = 4  # attention heads per block
    n_layers: int = 2  # number of TransformerBlocks
    d_ff: int | None = None  # hidden width of the feed-forward network; None means 4 * d_model
    dropout: float = 0.0  # dropout probability, placed as in torch.nn.TransformerEncoderLayer
    norm_first: bool = False  # False: post-LN as in the original paper; True: pre-LN (+ a final LayerNorm)
    pos_encoding: str = "learned"  # "learned" (a trained table) or "sinusoidal" (fixed, not a parameter)
    causal: bool = True  # each position attends only to itself and earlier positions
    scale: bool = True  # divide attention scores by sqrt(d_k); False for the scaling experiment
    shared_qk: bool = False  # one projection for queries and keys (the score matrix becomes symmetric)
    score: str = "dot"  # "dot": q.k; "additive": Bahdanau's v^T tanh(q + k)
    head_dim: int | None = None  # d_k of each head; None means d_model // n_heads
    activation: str = "gelu"  # the feed-forward's: "gelu" (exact), "gelu_tanh" (GPT-2's) or "relu"
    layer_norm_eps: float = 1e-5  # the eps of every LayerNorm
    tie_embeddings: bool = False  # the head's weight is the token embedding (GPT-2, BERT)
    head_bias: bool = True  # the head adds a bias (GPT-2's has none)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "max_len", "d_model", "n_heads", "n_layers"):
            _check_positive(name, getattr(self, name))
        for name in ("d_ff", "head_dim"):
            if getattr(self, name) is not None:
                _check_positive(name, getattr(self, name))
        if self.head_dim is None and self.d_model % self.n_heads:
            raise ValueError(
                f"TransformerConfig: d_model={self.d_model} is not divisible by n_heads={self.n_heads} "
                "(set head_dim to choose the size of each head yourself)"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"TransformerConfig: dropout={self.dropout} must be in [0, 1)")
        if self.pos_encoding not in POS_ENCODINGS:
            raise ValueError(f"TransformerConfig: pos_encoding={self.pos_encoding!r} must be one of "
                             f"{POS_ENCODINGS}")
        if self.score not in SCORES:
            raise ValueError(f"TransformerConfig: score={self.score!r} must be one of {SCORES}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"TransformerConfig: activation={self.activation!r} must be one of "
                             f"{ACTIVATIONS}")
        if isinstance(self.layer_norm_eps, bool) or not (isinstance(self.layer_norm_eps, Real)
                                                          and 0 < self.layer_norm_eps < 1):
            raise ValueError(f"TransformerConfig: layer_norm_eps={self.layer_norm_eps!r} must be in (0, 1)")
        for name in ("tie_embeddings", "head_bias"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"TransformerConfig: {name} must be a bool, got {getattr(self, name)!r}")

    @property
    def ff_dim(self) -> int:
        """The feed-forward width actually used (d_ff, or 4 * d_model when d_ff is None)."""
        return self.d_ff if self.d_ff is not None else 4 * self.d_model

    def to_dict(self) -> dict[str, Any]:
        """Plain values only, for JSON (what `TransformerLM.save` writes)."""
        return asdict(self)


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
        raise ValueError(f"TransformerConfig: {name}={value!r} must be a positive integer")
