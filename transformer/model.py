"""TransformerLM: token ids in, next-token logits out.

    ids (B, T) -> tok_emb(ids) + positions[:T]      (B, T, d_model)   Embedding + Position Embedding
               -> dropout -> blocks[0] ... blocks[n-1]  (B, T, d_model)
               -> norm (pre-LN only) -> head          (B, T, vocab_size)

Positions are a learned table (`pos_emb`, a parameter), the fixed sinusoids of "Attention Is
All You Need" (`pos_table`, a plain array: not trained, not saved, rebuilt from the config), or
rotary (RoPE): nothing is added to the tokens, each attention rotates its queries and keys.
With `tie_embeddings` the head's weight is the token embedding's (one Parameter, as in GPT-2).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from os import PathLike
from typing import Any

import numpy as np

import minigrad
from minigrad import Tensor, nn
from minigrad import functional as F
from minigrad.creation import default_generator

from . import checkpoint
from .attention import KVCache
from .block import TransformerBlock, make_norm
from .config import TransformerConfig


def sinusoidal_table(max_len: int, d_model: int) -> np.ndarray:
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d)): (max_len, d_model),
    float64 (cast to the model's dtype when used)."""
    # (max_len, ceil(d/2))
    angles = np.arange(max_len)[:, None] * 10000.0 ** (-np.arange(0, d_model, 2) / d_model)
    table = np.empty((max_len, d_model))
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, : d_model // 2])
    return table


class TransformerLM(nn.Module):
    """A stack of TransformerBlocks over token and position embeddings, with a linear head.

    `forward(ids, targets=None)` returns `(logits, loss)` like nanoGPT: `loss` is the mean
    cross-entropy over the positions whose target is not -100, or None without targets.
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        if c.pos_encoding == "learned":
            self.pos_emb = nn.Embedding(c.max_len, c.d_model)
        elif c.pos_encoding == "sinusoidal":
            self.pos_table = sinusoidal_table(c.max_len, c.d_model)
        # "rope": nothing is added here; every attention rotates its queries and keys.
        self.drop = nn.Dropout(c.dropout)
        attention_options = dict(scale=c.scale, shared_qk=c.shared_qk, score=c.score, head_dim=c.head_dim,
                                 n_kv_heads=c.n_kv_heads, max_len=c.max_len, qkv_bias=c.qkv_bias,
                                 rope_theta=c.rope_theta if c.pos_encoding == "rope" else None)
        self.blocks = nn.ModuleList(
            [TransformerBlock(c.d_model, c.n_heads, c.ff_dim, c.dropout, c.norm_first, c.activation,
                              c.norm, c.layer_norm_eps, c.bias, **attention_options)
             for _ in range(c.n_layers)]
        )
        if c.norm_first:
            self.norm = make_norm(c.norm, c.d_model, c.layer_norm_eps)
        self.head = nn.Linear(c.d_model, c.vocab_size, bias=c.bias and c.head_bias)
        if c.tie_embeddings:  # one Parameter under two names: its gradient sums both uses
            self.head.weight = self.tok_emb.weight

    def check_ids(self, ids: Any) -> np.ndarray:
        """The ids as an integer array (B, T), or an error naming the limit broken, its type by
        the kind of fault: TypeError (not integers), ValueError (shape, length), IndexError (an
        id outside the vocabulary, as `F.embedding` raises).
        """
        ids = ids.data if isinstance(ids, Tensor) else np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"TransformerLM: token ids must be integers, got dtype {ids.dtype}")
        if ids.ndim != 2 or 0 in ids.shape:
            raise ValueError("TransformerLM: expected ids of shape (batch, time) with batch, time >= 1, got "
                             f"shape {ids.shape}")
        if ids.shape[1] > self.config.max_len:
            raise ValueError(f"TransformerLM: sequence length {ids.shape[1]} exceeds max_len "
                             f"{self.config.max_len}")
        low, high = ids.min(), ids.max()
        bad = low if low < 0 else high
        if low < 0 or high >= self.config.vocab_size:
            raise IndexError(f"TransformerLM: token id {bad} is outside [0, {self.config.vocab_size})")
        return ids

    def positions(self, T: int, start: int = 0) -> Tensor | None:
        """Position vectors of the T positions from `start`, (T, d_model); None for rotary
        positions, which the attention applies."""
        if self.config.pos_encoding == "learned":
            return self.pos_emb(np.arange(start, start + T))
        if self.config.pos_encoding == "rope":
            return None
        return Tensor(self.pos_table[start:start + T].astype(self.tok_emb.weight.dtype))

    def check_position_ids(self, position_ids: Any, shape: tuple[int, int]) -> np.ndarray:
        """`position_ids` as an integer array of the ids' shape (B, T) in [0, max_len), or an
        error naming what is wrong."""
        position_ids = np.asarray(position_ids.data if isinstance(position_ids, Tensor) else position_ids)
        if position_ids.shape != shape or position_ids.dtype.kind not in "iu":
            raise ValueError(f"TransformerLM: position_ids must be integers of the ids' shape {shape}, got "
                             f"{position_ids.dtype} of shape {position_ids.shape}")
        if position_ids.min() < 0 or position_ids.max() >= self.config.max_len:
            bad = position_ids.min() if position_ids.min() < 0 else position_ids.max()
            raise IndexError(f"TransformerLM: position {bad} is outside [0, {self.config.max_len})")
        return position_ids

    def positions_at(self, position_ids: np.ndarray) -> Tensor | None:
        """Position vectors of given positions (B, T) -> (B, T, d_model); None for rotary
        positions, which the attention applies."""
        if self.config.pos_encoding == "rope":
            return None
        if self.config.pos_encoding == "learned":
            return self.pos_emb(position_ids)
        return Tensor(self.pos_table[position_ids].astype(self.tok_emb.weight.dtype))

    def new_caches(self) -> list[KVCache]:
        """One empty `KVCache` per block, for `forward(..., caches=...)`."""
        return [KVCache() for _ in self.blocks]

    def forward(self, ids: Any, targets: Any = None, key_padding_mask: Any = None,
                caches: list[KVCache] | None = None,
                position_ids: Any = None) -> tuple[Tensor, Tensor | None]:
        """ids (B, T) integers -> (logits (B, T, vocab_size), loss or None).

        `targets` (B, T) integers, -100 where no loss is wanted. `key_padding_mask` (B, T) bool,
        True = padding that no position attends to (as in `MultiHeadAttention`).
        `caches` (from `new_caches()`): decode step by step, Hugging Face's `past_key_values`.
        The ids then continue the positions the caches hold, each block appends its new keys
        and values to its cache, and a `key_padding_mask` covers every key, (B, kept + T).
        `position_ids` (B, T) integers in [0, max_len): each token's position, instead of
        0, 1, ... (Hugging Face's name; left-padded batches count from each first real token).
        """
        ids = self.check_ids(ids)
        B, T = ids.shape
        start = 0
        if caches is not None:
            if len(caches) != len(self.blocks):
                raise ValueError(f"TransformerLM: {len(caches)} caches for {len(self.blocks)} blocks")
            start = caches[0].length
            if start + T > self.config.max_len:
                raise ValueError(f"TransformerLM: {start} cached positions and {T} new ones exceed "
                                 f"max_len {self.config.max_len}")
        if position_ids is None:
            positions = self.positions(T, start)  # (T, d_model), or None for rotary positions
        else:
            position_ids = self.check_position_ids(position_ids, (B, T))
            positions = self.positions_at(position_ids)  # (B, T, d_model), or None for rotary positions
        x = self.tok_emb(ids)  # (B, T, d_model)
        if positions is not None:
            x = x + positions
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, self.config.causal, key_padding_mask, None if caches is None else caches[i],
                      position_ids if self.config.pos_encoding == "rope" else None)
        if self.config.norm_first:
            x = self.norm(x)
        logits = self.head(x)  # (B, T, vocab_size)
        if targets is None:
            return logits, None
        targets = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
        if targets.shape != ids.shape:
            raise ValueError(f"TransformerLM: targets of shape {targets.shape} do not match ids of shape "
                             f"{ids.shape}")
        loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T), ignore_index=-100)
        return logits, loss

    def generate(
        self,
        ids: Any,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: np.random.Generator | None = None,
        use_cache: bool = True,
        key_padding_mask: Any = None,
    ) -> np.ndarray:
        """Extend each sequence of `ids` (B, T) by `max_new_tokens` sampled tokens; returns
        the int64 array (B, T + max_new_tokens) (or (T + max_new_tokens,) for 1-D ids).

        Each token is drawn from softmax(logits / temperature) at the last position, among the
        `top_k` most likely tokens when given; temperature 0 takes the most likely token.
        The model sees at most the last max_len tokens. Runs without a graph and with dropout
        off, then restores the training mode. `rng` defaults to minigrad's seeded generator.
        With `use_cache` (the default, as in Hugging Face's `generate`) each block keeps the
        keys and values of the positions seen (a `KVCache`), so a step runs the model on its
        one new token; the tokens are the same as without it. Once max_len positions are
        kept, the window slides and each step runs on the last max_len tokens, as uncached.
        A batch of prompts of different lengths is padded on the left, with `key_padding_mask`
        (B, T) True at the padding: as Hugging Face's `generate` does (GPT-2, Llama), the padding
        is hidden from every query and each row's positions (learned or rotary) count from its
        first real token, so each row continues as it would alone. The prompt and the new
        tokens must then fit in max_len.
        """
        if not 0 <= temperature < math.inf:  # also refuses NaN
            raise ValueError(f"generate: temperature must be a finite number >= 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"generate: top_k must be >= 1, got {top_k}")
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"generate: token ids must be integers, got dtype {ids.dtype}")
        single = ids.ndim == 1
        out = ids[None] if single else ids
        out = out.astype(np.int64)
        rng = rng if rng is not None else default_generator()
        max_len = self.config.max_len
        padding = self._prompt_padding(key_padding_mask, out.shape, max_new_tokens)
        with minigrad.no_grad(), nn.evaluating(self):
            caches = None
            for _ in range(max_new_tokens):
                if use_cache and caches is not None and caches[0].length < max_len:
                    step = out[:, -1:]  # the newest token only
                else:  # the first step, a full window, or no cache: the last max_len tokens
                    caches = self.new_caches() if use_cache else None
                    step = out[:, -max_len:]
                padded = {}
                if padding is not None:  # never slides: prompt and new tokens fit in max_len
                    positions = np.maximum(np.cumsum(~padding, axis=1) - 1, 0)  # (B, L)
                    padded = dict(key_padding_mask=padding, position_ids=positions[:, -step.shape[1]:])
                logits, _ = self(step, caches=caches, **padded)
                token = sample(logits.data[:, -1, :], temperature, top_k, rng)  # (B,)
                out = np.concatenate([out, token[:, None]], axis=1)
                if padding is not None:
                    padding = np.concatenate([padding, np.zeros((len(out), 1), dtype=bool)], axis=1)
        return out[0] if single else out

    def _prompt_padding(self, key_padding_mask: Any, shape: tuple[int, int],
                        max_new_tokens: int) -> np.ndarray | None:
        """generate's key_padding_mask, checked: bool (B, T), with room for the new tokens."""
        if key_padding_mask is None:
            return None
        mask = key_padding_mask
        padding = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
        padding = padding[None] if padding.ndim == 1 else padding
        if padding.dtype != np.bool_ or padding.shape != shape:
            raise ValueError(f"generate: key_padding_mask must be a bool array of the ids' shape {shape} "
                             f"(True = padding), got {padding.dtype} of shape {padding.shape}")
        if shape[1] + max_new_tokens > self.config.max_len:
            raise ValueError(f"generate: with a key_padding_mask the prompt ({shape[1]}) and the new tokens "
                             f"({max_new_tokens}) must fit in max_len {self.config.max_len}")
        return padding

    def save(self, path: str | PathLike, data: Mapping[str, Any] | None = None) -> None:
        """Write the weights and the config to one model file (`transformer.checkpoint`), with
        the data's `describe()` when given, so that its vocabulary travels with the model."""
        checkpoint.write(path, "TransformerLM", self.config, self.state_dict(), data=data)

    @classmethod
    def load(cls, path: str | PathLike, dtype: Any = None) -> TransformerLM:
        """Rebuild the model of any minigrad model file: one written by `save`, a training
        checkpoint, or either of the older formats. The model has the file's dtype (all weights
        share one real floating dtype), or `dtype` when given. The file is checked before
        anything is built (see `transformer.checkpoint.read`)."""
        return cls.from_checkpoint(checkpoint.read(path), dtype)

    @classmethod
    def from_checkpoint(cls, ck: checkpoint.Checkpoint, dtype: Any = None) -> TransformerLM:
        """The model of a checkpoint that `transformer.checkpoint.read` returned."""
        return checkpoint.build(cls, ck, dtype)


def sample(logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator) -> np.ndarray:
    """One token id per row of `logits` (B, V): greedy at temperature 0, else drawn from
    softmax(logits / temperature) restricted to the top_k largest logits."""
    if temperature == 0:
        return logits.argmax(axis=-1)
    z = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.sort(z, axis=-1)[:, -top_k, None]  # (B, 1): the k-th largest logit
        z = np.where(z < kth, -np.inf, z)
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    cdf = np.cumsum(p, axis=-1)  # unnormalised: compare with a uniform draw scaled by the total
    u = rng.random((len(z), 1)) * cdf[:, -1:]
    return (cdf <= u).sum(axis=-1)  # the first index whose cdf exceeds u
