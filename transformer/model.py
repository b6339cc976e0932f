"""TransformerLM: token ids in, next-token logits out.

    ids (B, T) -> tok_emb(ids) + positions[:T]      (B, T, d_model)   Embedding + Position Embedding
               -> dropout -> blocks[0] ... blocks[n-1]  (B, T, d_model)
               -> norm (pre-LN only) -> head          (B, T, vocab_size)

Positions are a learned table (`pos_emb`, a parameter), the fixed sinusoids of "Attention Is
All You Need" (`pos_table`, a plain array: not trained, not saved, rebuilt from the config), or
rotary (RoPE): nothing is added to the tokens, each attention rotates its queries and keys.
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
                                 n_kv_heads=c.n_kv_heads, max_len=c.max_len,
                                 rope_theta=c.rope_theta if c.pos_encoding == "rope" else None)
        self.blocks = nn.ModuleList(
            [TransformerBlock(c.d_model, c.n_heads, c.ff_dim, c.dropout, c.norm_first, c.activation,
                              c.norm, c.norm_eps, c.bias, **attention_options)
             for _ in range(c.n_layers)]
        )
        if c.norm_first:
            self.norm = make_norm(c.norm, c.d_model, c.norm_eps)
        self.head = nn.Linear(c.d_model, c.vocab_size, bias=c.bias)

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

    def positions(self, T: int) -> Tensor | None:
        """Position vectors of the first T positions, (T, d_model); None for rotary positions,
        which the attention applies."""
        if self.config.pos_encoding == "learned":
            return self.pos_emb(np.arange(T))
        if self.config.pos_encoding == "rope":
            return None
        return Tensor(self.pos_table[:T].astype(self.tok_emb.weight.dtype))

    def forward(self, ids: Any, targets: Any = None,
                key_padding_mask: Any = None) -> tuple[Tensor, Tensor | None]:
        """ids (B, T) integers -> (logits (B, T, vocab_size), loss or None).

        `targets` (B, T) integers, -100 where no loss is wanted. `key_padding_mask` (B, T) bool,
        True = padding that no position attends to (as in `MultiHeadAttention`).
        """
        ids = self.check_ids(ids)
        B, T = ids.shape
        x = self.tok_emb(ids)  # (B, T, d_model)
        positions = self.positions(T)
        if positions is not None:
            x = x + positions  # (B, T, d_model) + (T, d_model)
        x = self.drop(x)
        for block in self.blocks:
            x = block(x, self.config.causal, key_padding_mask)  # (B, T, d_model)
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
    ) -> np.ndarray:
        """Extend each sequence of `ids` (B, T) by `max_new_tokens` sampled tokens; returns
        the int64 array (B, T + max_new_tokens) (or (T + max_new_tokens,) for 1-D ids).

        Each token is drawn from softmax(logits / temperature) at the last position, among the
        `top_k` most likely tokens when given; temperature 0 takes the most likely token.
        The model sees at most the last max_len tokens. Runs without a graph and with dropout
        off, then restores the training mode. `rng` defaults to minigrad's seeded generator.
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
        with minigrad.no_grad(), nn.evaluating(self):
            for _ in range(max_new_tokens):
                logits, _ = self(out[:, -self.config.max_len:])
                token = sample(logits.data[:, -1, :], temperature, top_k, rng)  # (B,)
                out = np.concatenate([out, token[:, None]], axis=1)
        return out[0] if single else out

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
        if ck.model != "TransformerLM":
            raise ValueError(f"TransformerLM.load: checkpoint {ck.path} holds a {ck.model}, "
                             "not a TransformerLM")
        model = cls(ck.config)
        checkpoint.check_fits(model, ck)
        model.to(ck.dtype if dtype is None else dtype)
        model.load_state_dict(ck.weights)
        return model


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
