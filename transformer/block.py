"""The Transformer block: Self-Attention, Add + LN, Feed-Forward, Add + LN (docs/architecture.md).

    post-LN (norm_first=False, the original paper):   pre-LN (norm_first=True):
        x = norm1(x + attn(x))                            x = x + attn(norm1(x))
        x = norm2(x + ffn(x))                             x = x + ffn(norm2(x))

Dropout sits where torch.nn.TransformerEncoderLayer puts it: on the attention weights (inside
`attn`), after the activation (inside `ffn`), and on each branch before it is added back
(`dropout1`, `dropout2`). With the same weights and dropout 0 the two compute the same function
(`transformer.interop` moves the weights across).
"""
from __future__ import annotations

from typing import Any

from minigrad import Tensor, nn

from .attention import MultiHeadAttention

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}  # the feed-forward's nonlinearity, by PyTorch's names


class FeedForward(nn.Module):
    """The position-wise network: fc2(dropout(act(fc1(x)))), (B, T, d_model) -> (B, T, d_ff)
    -> (B, T, d_model), the same two layers applied to every position. `activation` is "gelu"
    (GPT's choice, the default here) or "relu" (the original paper's, PyTorch's default)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "gelu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"FeedForward: activation={activation!r} must be one of {tuple(ACTIVATIONS)}")
        self.fc1 = nn.Linear(d_model, d_ff)
        self.act = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(d_ff, d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.dropout(self.act(self.fc1(x))))


class TransformerBlock(nn.Module):
    """One encoder layer: attention and feed-forward, each with a residual connection and a
    LayerNorm. `activation` ("gelu" or "relu") is the feed-forward's; `attention_options`
    (scale, shared_qk, score, head_dim) go to `MultiHeadAttention` unchanged."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str = "gelu",
        **attention_options: Any,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.attn = MultiHeadAttention(d_model, n_heads, dropout=dropout, **attention_options)
        self.norm1 = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff, dropout, activation)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: Tensor, causal: bool = False, key_padding_mask: Any = None) -> Tensor:
        """x (B, T, d_model) -> (B, T, d_model); masks as in `MultiHeadAttention.forward`."""
        if self.norm_first:
            x = x + self.dropout1(self.attn(self.norm1(x), causal, key_padding_mask))
            x = x + self.dropout2(self.ffn(self.norm2(x)))
        else:
            x = self.norm1(x + self.dropout1(self.attn(x, causal, key_padding_mask)))
            x = self.norm2(x + self.dropout2(self.ffn(x)))
        return x

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}"
