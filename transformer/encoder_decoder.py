"""The encoder-decoder of "Attention Is All You Need" on embedded inputs, as torch.nn.Transformer.

    src (B, S, d) -> encoder: n x TransformerBlock, then norm  -> memory (B, S, d)
    tgt (B, T, d) -> decoder: n x TransformerDecoderBlock(., memory), then norm -> (B, T, d)

The encoder is the block the language model stacks, without a causal mask: every source
position sees the whole source. Its output, the memory, enters every decoder block's
cross-attention. Like torch.nn.Transformer, both stacks end in a LayerNorm, for post-LN as
well as pre-LN layers. The embeddings and the output head are the caller's
(`transformer.seq2seq.Seq2SeqTransformer` adds them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minigrad import Tensor, nn

from .block import TransformerBlock
from .decoder import DecoderCache, TransformerDecoderBlock


def check_padding_mask(mask: Any, batch: int, length: int, name: str, op: str) -> np.ndarray | None:
    """The mask as a bool (B, L) array (or None), or a ValueError naming its expected shape."""
    if mask is None:
        return None
    array = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if array.dtype != np.bool_ or array.shape != (batch, length):
        raise ValueError(
            f"{op}: {name} must be a bool array of shape {(batch, length)} (True = padding), "
            f"got {array.dtype} of shape {array.shape}"
        )
    return array


def _check_embedded(x: Tensor, d_model: int, name: str, op: str) -> None:
    if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[-1] != d_model:
        shape = x.shape if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{op}: expected {name} of shape (B, L, d_model={d_model}), got {shape}")


class TransformerEncoder(nn.Module):
    """`n_layers` encoder blocks (`layers`) and a final LayerNorm (`norm`)."""

    def __init__(
        self,
        n_layers: int,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str = "relu",
        **attention_options: Any,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [
                TransformerBlock(d_model, n_heads, d_ff, dropout, norm_first, activation, **attention_options)
                for _ in range(n_layers)
            ]
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(self, src: Tensor, key_padding_mask: Any = None) -> Tensor:
        """src (B, S, d_model) -> memory (B, S, d_model); padded source positions are hidden
        from every query."""
        for layer in self.layers:
            src = layer(src, False, key_padding_mask)
        return self.norm(src)


class TransformerDecoder(nn.Module):
    """`n_layers` decoder blocks (`layers`) and a final LayerNorm (`norm`)."""

    def __init__(
        self,
        n_layers: int,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str = "relu",
        **attention_options: Any,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [
                TransformerDecoderBlock(
                    d_model, n_heads, d_ff, dropout, norm_first, activation, **attention_options
                )
                for _ in range(n_layers)
            ]
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        causal: bool = True,
        key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        caches: Sequence[DecoderCache] | None = None,
    ) -> Tensor:
        """tgt (B, T, d_model), memory (B, S, d_model) -> (B, T, d_model). `caches`: one
        `DecoderCache` per layer when decoding step by step."""
        for i, layer in enumerate(self.layers):
            tgt = layer(
                tgt,
                memory,
                causal,
                key_padding_mask,
                memory_key_padding_mask,
                None if caches is None else caches[i],
            )
        return self.norm(tgt)

    def new_caches(self) -> list[DecoderCache]:
        """Empty caches, one per layer, for a new generation."""
        return [DecoderCache() for _ in self.layers]


class EncoderDecoder(nn.Module):
    """The Transformer of the paper without its embeddings and head: `encoder` and `decoder`.

    The arguments and their defaults are torch.nn.Transformer's (the paper's base model):
    d_model=512, n_heads=8, 6 + 6 layers, d_ff=2048, dropout 0.1, ReLU, post-LN.
    `attention_options` (scale, shared_qk, score, head_dim) go to every attention.
    """

    def __init__(
        self,
        d_model: int = 512,
        n_heads: int = 8,
        n_encoder_layers: int = 6,
        n_decoder_layers: int = 6,
        d_ff: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        **attention_options: Any,
    ) -> None:
        super().__init__()
        self.d_model = d_model
        sizes = (d_model, n_heads, d_ff, dropout, norm_first, activation)
        self.encoder = TransformerEncoder(n_encoder_layers, *sizes, **attention_options)
        self.decoder = TransformerDecoder(n_decoder_layers, *sizes, **attention_options)

    def encode(self, src: Tensor, src_key_padding_mask: Any = None) -> Tensor:
        """src (B, S, d_model) -> memory (B, S, d_model)."""
        _check_embedded(src, self.d_model, "src", "EncoderDecoder")
        mask = check_padding_mask(
            src_key_padding_mask, src.shape[0], src.shape[1], "src_key_padding_mask", "EncoderDecoder"
        )
        return self.encoder(src, mask)

    def decode(
        self,
        tgt: Tensor,
        memory: Tensor,
        *,
        tgt_causal: bool = True,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        caches: Sequence[DecoderCache] | None = None,
    ) -> Tensor:
        """tgt (B, T, d_model) and the encoder's memory (B, S, d_model) -> (B, T, d_model).

        With `caches` (from `decoder.new_caches()`), tgt holds only the new positions and
        tgt_key_padding_mask, if any, covers every target position so far.
        """
        op = "EncoderDecoder"
        _check_embedded(tgt, self.d_model, "tgt", op)
        _check_embedded(memory, self.d_model, "memory", op)
        if memory.shape[0] != tgt.shape[0]:
            raise ValueError(
                f"{op}: src and tgt must have the same batch size, got memory of shape "
                f"{memory.shape} and tgt of shape {tgt.shape}"
            )
        B, T = tgt.shape[0], tgt.shape[1] + (caches[0].self_attn.length if caches else 0)
        tgt_mask = check_padding_mask(tgt_key_padding_mask, B, T, "tgt_key_padding_mask", op)
        memory_mask = check_padding_mask(
            memory_key_padding_mask, B, memory.shape[1], "memory_key_padding_mask", op
        )
        return self.decoder(tgt, memory, tgt_causal, tgt_mask, memory_mask, caches)

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        *,
        tgt_causal: bool = True,
        src_key_padding_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
    ) -> Tensor:
        """src (B, S, d_model), tgt (B, T, d_model) -> (B, T, d_model), the function
        torch.nn.Transformer(batch_first=True) computes with tgt_mask the causal mask (when
        tgt_causal) and the same padding masks (bool, True = padding). As there, the memory is
        masked in cross-attention only by memory_key_padding_mask: pass the source's mask
        again to hide padded source positions from the decoder."""
        _check_embedded(src, self.d_model, "src", "EncoderDecoder")
        _check_embedded(tgt, self.d_model, "tgt", "EncoderDecoder")
        if src.shape[0] != tgt.shape[0]:
            raise ValueError(
                f"EncoderDecoder: src and tgt must have the same batch size, got src of shape "
                f"{src.shape} and tgt of shape {tgt.shape}"
            )
        memory = self.encode(src, src_key_padding_mask)
        return self.decode(
            tgt,
            memory,
            tgt_causal=tgt_causal,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
        )

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}"
