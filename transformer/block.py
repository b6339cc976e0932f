"""The Transformer block: Self-Attention, Add + LN, Feed-Forward, Add + LN (docs/architecture.md).

    post-LN (norm_first=False, the original paper):   pre-LN (norm_first=True):
        x = norm1(x + attn(x))                            x = x + attn(norm1(x))
        x = norm2(x + ffn(x))                             x = x + ffn(norm2(x))

The same block makes today's open models (the Llama family) when its options say so: pre-norm
with `norm="rmsnorm"`, a SwiGLU feed-forward (`activation="swiglu"`), no biases, rotary
positions and grouped-query heads in the attention (see `TransformerConfig.llama`).

Dropout sits where torch.nn.TransformerEncoderLayer puts it: on the attention weights (inside
`attn`), after the activation (inside `ffn`), and on each branch before it is added back
(`dropout1`, `dropout2`). With the same weights and dropout 0 the two compute the same function
(`transformer.interop` moves the weights across).
"""
from __future__ import annotations

from typing import Any

from minigrad import Tensor, nn

from .attention import KVCache, MultiHeadAttention

# The feed-forward's nonlinearity, by name; "swiglu" is its own network (SwiGLUFeedForward).
ACTIVATIONS = {
    "gelu": nn.GELU,
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "relu": nn.ReLU,
    "silu": nn.SiLU,
}
NORMS = {"layernorm": nn.LayerNorm, "rmsnorm": nn.RMSNorm}


def make_norm(norm: str, d_model: int, eps: float = 1e-5) -> nn.Module:
    """The block's normalization layer by name: "layernorm" or "rmsnorm"."""
    if norm not in NORMS:
        raise ValueError(f"norm={norm!r} must be one of {tuple(NORMS)}")
    return NORMS[norm](d_model, eps=eps)


def make_feed_forward(d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "gelu",
                      bias: bool = True) -> nn.Module:
    """FeedForward for the plain activations, SwiGLUFeedForward for "swiglu"."""
    if activation == "swiglu":
        return SwiGLUFeedForward(d_model, d_ff, dropout, bias)
    return FeedForward(d_model, d_ff, dropout, activation, bias)


class FeedForward(nn.Module):
    """The position-wise network: fc2(dropout(act(fc1(x)))), (B, T, d_model) -> (B, T, d_ff)
    -> (B, T, d_model), the same two layers applied to every position. `activation` is "gelu"
    (GPT's choice, the default here), "gelu_tanh" (GPT-2's tanh approximation), "relu" (the
    original paper's, PyTorch's default) or "silu"."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "gelu",
                 bias: bool = True) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"FeedForward: activation={activation!r} must be one of {tuple(ACTIVATIONS)} "
                             "(or 'swiglu', a SwiGLUFeedForward)")
        self.fc1 = nn.Linear(d_model, d_ff, bias=bias)
        self.act = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.dropout(self.act(self.fc1(x))))


class SwiGLUFeedForward(nn.Module):
    """The gated feed-forward of Llama (Shazeer, "GLU Variants Improve Transformer", 2020):

        down_proj(dropout(silu(gate_proj(x)) * up_proj(x)))    (B, T, d) -> (B, T, d_ff) -> (B, T, d)

    Three matrices instead of two; a d_ff of 8/3 d_model keeps the parameter count of a
    4 d_model two-layer network. The names are Hugging Face's Llama names."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, bias: bool = False) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(d_model, d_ff, bias=bias)
        self.up_proj = nn.Linear(d_model, d_ff, bias=bias)
        self.act = nn.SiLU()
        self.dropout = nn.Dropout(dropout)
        self.down_proj = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(self.dropout(self.act(self.gate_proj(x)) * self.up_proj(x)))


class TransformerBlock(nn.Module):
    """One encoder layer: attention and feed-forward, each with a residual connection and a
    norm. `activation` (a name of ACTIVATIONS, or "swiglu") is the feed-forward's; `norm` is
    "layernorm" or "rmsnorm" (with `norm_eps`); `bias` applies to every linear layer of the
    block; `attention_options` (scale, shared_qk, score, head_dim, n_kv_heads, rope_theta,
    max_len) go to `MultiHeadAttention` unchanged."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str = "gelu",
        norm: str = "layernorm",
        norm_eps: float = 1e-5,
        bias: bool = True,
        **attention_options: Any,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout, **attention_options)
        self.norm1 = make_norm(norm, d_model, norm_eps)
        self.ffn = make_feed_forward(d_model, d_ff, dropout, activation, bias)
        self.norm2 = make_norm(norm, d_model, norm_eps)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: Tensor, causal: bool = False, key_padding_mask: Any = None,
                cache: KVCache | None = None, position_ids: Any = None) -> Tensor:
        """x (B, T, d_model) -> (B, T, d_model); masks, `cache` and `position_ids` (RoPE's) as in
        `MultiHeadAttention.forward`."""
        attend = dict(causal=causal, key_padding_mask=key_padding_mask, cache=cache,
                      position_ids=position_ids)
        if self.norm_first:
            x = x + self.dropout1(self.attn(self.norm1(x), **attend))
            x = x + self.dropout2(self.ffn(self.norm2(x)))
        else:
            x = self.norm1(x + self.dropout1(self.attn(x, **attend)))
            x = self.norm2(x + self.dropout2(self.ffn(x)))
        return x

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}"
