"""The decoder block of "Attention Is All You Need": the encoder block with a second attention.

    post-LN (norm_first=False, the paper):           pre-LN (norm_first=True):
        x = norm1(x + attn(x))                            x = x + attn(norm1(x))
        x = norm2(x + cross_attn(x, memory))              x = x + cross_attn(norm2(x), memory)
        x = norm3(x + ffn(x))                             x = x + ffn(norm3(x))

`attn` is masked (causal) self-attention over the target: position t sees targets 0..t only,
so the decoder can be trained on whole sequences and still generate left to right.
`cross_attn` is the same `MultiHeadAttention` given a `memory`, the encoder's output
(B, S, d_model): its queries come from the target, its keys and values from the source, so
each target position chooses which source positions to read. Everything else is the encoder
block's: the feed-forward network, the residual connections and the LayerNorms.

Dropout sits where torch.nn.TransformerDecoderLayer puts it: on the weights of both attentions,
after the feed-forward's activation, and on each of the three branches before it is added back
(`dropout1`, `dropout2`, `dropout3`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from minigrad import Tensor, nn

from .attention import KVCache, MultiHeadAttention
from .block import FeedForward


@dataclass
class DecoderCache:
    """What one decoder block keeps while generating a token at a time: the keys and values of
    the targets written so far (self-attention) and those of the memory (cross-attention,
    computed at the first step)."""

    self_attn: KVCache = field(default_factory=KVCache)
    cross_attn: KVCache = field(default_factory=KVCache)


class TransformerDecoderBlock(nn.Module):
    """One decoder layer: masked self-attention, Add + LN, cross-attention, Add + LN,
    feed-forward, Add + LN. `activation` ("relu", the paper's and PyTorch's default, or
    "gelu") is the feed-forward's; `attention_options` (scale, shared_qk, score, head_dim) go
    to both attentions unchanged."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str = "relu",
        **attention_options: Any,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.attn = MultiHeadAttention(d_model, n_heads, dropout=dropout, **attention_options)
        self.norm1 = nn.LayerNorm(d_model)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout, **attention_options)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff, dropout, activation)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        causal: bool = True,
        key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        cache: DecoderCache | None = None,
    ) -> Tensor:
        """x (B, T, d_model), memory (B, S, d_model) -> (B, T, d_model).

        causal: each target position sees itself and earlier ones only (the default: this is
            a decoder). key_padding_mask: bool (B, T) over the targets;
            memory_key_padding_mask: bool (B, S) over the source, True = padding.
        cache: a `DecoderCache` when decoding step by step; x then holds only the new positions.
        """
        self_cache, cross_cache = (None, None) if cache is None else (cache.self_attn, cache.cross_attn)

        def self_attention(h: Tensor) -> Tensor:
            return self.dropout1(self.attn(h, causal=causal, key_padding_mask=key_padding_mask,
                                           cache=self_cache))

        def cross_attention(h: Tensor) -> Tensor:
            return self.dropout2(
                self.cross_attn(h, key_padding_mask=memory_key_padding_mask, memory=memory, cache=cross_cache)
            )

        if self.norm_first:
            x = x + self_attention(self.norm1(x))
            x = x + cross_attention(self.norm2(x))
            x = x + self.dropout3(self.ffn(self.norm3(x)))
        else:
            x = self.norm1(x + self_attention(x))
            x = self.norm2(x + cross_attention(x))
            x = self.norm3(x + self.dropout3(self.ffn(x)))
        return x

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}"
