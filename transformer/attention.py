"""Multi-head attention, all heads at once on whole (B, h, T, S) arrays.

    q       = x W_q^T                        (B, T, h * d_k), split into heads (B, h, T, d_k)
    k, v    = m W_k^T, m W_v^T               (B, S, g * d_k) each, split into heads (B, g, S, d_k)
    q, k    = rotate(q), rotate(k)           rotary positions (RoPE), when chosen
    scores  = score(q, k)                    (B, h, T, S); by default q . k / sqrt(d_k)
    weights = softmax(masked scores)         (B, h, T, S); each query's distribution over the keys
    out     = merge_heads(weights @ v) W_o^T (B, h, T, d_k) -> (B, T, h * d_k) -> (B, T, d_model)

The keys and values come from m = x (self-attention, S = T, the default) or from a `memory`
(cross-attention: a decoder's queries looking at the encoder's output, S source positions).
With g = n_kv_heads < h (grouped-query attention, GQA) each key/value head serves h / g query
heads: fewer key and value weights, and a g / h smaller KV cache.

With the default dot-product scoring, and unless the weights are being recorded, the scores,
softmax and weighted sum run as one fused op, `F.scaled_dot_product_attention`, whose
backward keeps only the (B, h, T, S) probabilities; the experiment variants, and recording,
take the explicit path written out below.

Splitting the heads is a reshape and a transpose: views of the projection's output, never a
copy per head. The experiment variants of the five attention questions (docs/architecture.md:
no scaling, one matrix for
Q and K, additive scores, a head size of your choice) are all decided in
`MultiHeadAttention.__init__`: the scoring is a small module (`DotScore` or `AdditiveScore`)
picked there, so `forward` reads the same for every variant.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

import minigrad
from minigrad import Tensor, nn
from minigrad import functional as F

from .config import SCORES
from .rope import RotaryEmbedding


class DotScore(nn.Module):
    """scores[b, h, i, j] = scale * q_i . k_j: (B, h, T, d) and (B, h, S, d) -> (B, h, T, S).

    Scaling q before the product costs B*h*T*d multiplies instead of B*h*T*S. Time and memory
    are O(B h T S d) and O(B h T S): one batched matrix product.
    """

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, q: Tensor, k: Tensor) -> Tensor:
        return (q * self.scale) @ k.transpose(-2, -1)  # (B, h, T, d) @ (B, h, d, S) -> (B, h, T, S)

    def extra_repr(self) -> str:
        return f"scale={self.scale:.4g}"


class AdditiveScore(nn.Module):
    """Bahdanau's scores[b, h, i, j] = scale * v_h . tanh(q_i + k_j), per head.

    The attention's q_proj and k_proj are Bahdanau's W_q and W_k, so this module only adds v,
    one vector of d_k weights per head, drawn from N(0, 1): a sum of d_k terms, like a dot
    product, so the same 1/sqrt(d_k) keeps its size level as d_k grows (for unit-variance inputs
    the scores start with a standard deviation near 0.55, dot scores near 0.33, at any d_k).

    Cost: tanh(q_i + k_j) is a (B, h, T, S, d_k) array, d_k times the (B, h, T, T) of dot scores,
    in memory (backward keeps it) and in time (O(B h T^2 d_k) elementwise work and tanh, where
    dot scores are one BLAS product). At B=16, h=8, T=128, d_k=32 in float32 that array is
    256 MiB per layer, against 8 MiB of dot scores.
    """

    def __init__(self, n_heads: int, head_dim: int, scale: float) -> None:
        super().__init__()
        self.v = nn.Parameter(minigrad.randn(n_heads, head_dim))
        self.scale = scale

    def forward(self, q: Tensor, k: Tensor) -> Tensor:
        B, h, T, d = q.shape
        S = k.shape[2]
        e = (q.unsqueeze(3) + k.unsqueeze(2)).tanh()  # (B, h, T, 1, d) + (B, h, 1, S, d) -> (B, h, T, S, d)
        v = (self.v * self.scale).reshape(h, d, 1)  # (h, d, 1), one column per head
        return (e.reshape(B, h, T * S, d) @ v).reshape(B, h, T, S)  # (B, h, T*S, 1) -> (B, h, T, S)

    def extra_repr(self) -> str:
        return f"scale={self.scale:.4g}"


def attention_mask(batch: int, queries: int, keys: int, causal: bool, key_padding_mask: Any,
                   keys_name: str = "T") -> np.ndarray | None:
    """The positions a query may not look at, True = hidden: (B or 1, 1, T, S) bool, or None.

    Causal hides every key after the query. With as many queries as keys (T = S) that is
    j > i; with fewer queries (the last T of S positions, as when decoding with a KV cache)
    query i sits at position i + S - T and the hidden keys are j > i + S - T.
    key_padding_mask (B, S) hides padded keys from every query; an error calls the number of
    keys `keys_name` (T for self-attention, S for a memory's positions).
    """
    mask = None
    if causal:
        mask = np.triu(np.ones((queries, keys), dtype=bool), k=1 + keys - queries)[None, None]  # (1, 1, T, S)
    if key_padding_mask is not None:
        padding = (key_padding_mask.data if isinstance(key_padding_mask, Tensor)
                   else np.asarray(key_padding_mask))
        if padding.dtype != np.bool_ or padding.shape != (batch, keys):
            raise ValueError(
                f"MultiHeadAttention: key_padding_mask must be a bool array of shape (B, {keys_name}) = "
                f"{(batch, keys)} (True = padding), got {padding.dtype} of shape {padding.shape}"
            )
        padding = padding[:, None, None, :]  # (B, 1, 1, S): the same keys hidden from every query
        mask = padding if mask is None else mask | padding
    return mask


class KVCache:
    """Keys and values kept between calls while decoding one token at a time.

    For self-attention each call appends the new positions' keys and values (B, h, P, d_k)
    to those of the earlier positions, so a step projects only its own token. For
    cross-attention (a `memory` is given) the memory's keys and values are computed on the
    first call and reused by every later one: the source does not change while decoding.
    """

    def __init__(self) -> None:
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    @property
    def length(self) -> int:
        """How many key positions are kept."""
        return 0 if self.k is None else self.k.shape[2]


@contextlib.contextmanager
def record_attention(model: nn.Module) -> Iterator[list[MultiHeadAttention]]:
    """Within the block, every `MultiHeadAttention` in `model` (the model itself included)
    keeps `attn_weights` and `attn_scores` after each forward; afterwards each module's
    `record_weights` is what it was, and the arrays of the last recorded forward stay readable.
    Yields the attention modules, in `named_modules()` order.

        with record_attention(model):
            model(ids)
        weights = model.blocks[0].attn.attn_weights  # (B, h, T, T)
    """
    modules = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    before = [m.record_weights for m in modules]
    for m in modules:
        m.record_weights = True
    try:
        yield modules
    finally:
        for m, flag in zip(modules, before):
            m.record_weights = flag


def repeat_kv(x: Tensor, groups: int) -> Tensor:
    """(B, g, S, d_k) -> (B, g * groups, S, d_k): each key/value head repeated for the `groups`
    query heads it serves (head j of the result is head j // groups of x)."""
    if groups == 1:
        return x
    B, g, S, d = x.shape
    return x.unsqueeze(2).expand(B, g, groups, S, d).reshape(B, g * groups, S, d)


class MultiHeadAttention(nn.Module):
    """Attention with `n_heads` heads of size `head_dim` (d_k, default d_model // n_heads):
    self-attention by default, cross-attention when `forward` is given other keys and values
    (`attn(query, key, value)`, as torch.nn.MultiheadAttention) or a `memory`.

    Options for the experiments: `scale=False` drops the 1/sqrt(d_k); `shared_qk=True` uses
    q_proj for the keys too (then `k_proj` is None and the score matrix is symmetric);
    `score="additive"` scores with v^T tanh(q + k) instead of q . k; `head_dim` sets d_k apart
    from d_model / n_heads (the projections map d_model to n_heads * head_dim and back).

    Options of today's models: `n_kv_heads` (grouped-query attention: k_proj and v_proj make
    n_kv_heads heads, each shared by n_heads / n_kv_heads query heads; None means n_heads) and
    `rope_theta` (rotary position embeddings on queries and keys in self-attention, with that
    base; None: none), whose tables cover `max_len` positions. `qkv_bias` gives the query,
    key and value projections biases even when `bias` is off (Qwen2's layout).

    Recording is opt-in: while `record_weights` is True (see `record_attention`), each
    forward keeps `attn_weights` (B, h, T, S), the softmax weights, and `attn_scores`
    (B, h, T, S), the scores before masking and softmax, as numpy arrays (S = T for
    self-attention; S source positions for cross-attention), for pictures and experiments.
    Otherwise they keep what the last recorded forward left (None at first), so training holds
    no (B, h, T, S) arrays once its graph is gone.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        bias: bool = True,
        dropout: float = 0.0,
        *,
        scale: bool = True,
        shared_qk: bool = False,
        score: str = "dot",
        head_dim: int | None = None,
        n_kv_heads: int | None = None,
        rope_theta: float | None = None,
        max_len: int = 2048,
        qkv_bias: bool = False,
    ) -> None:
        super().__init__()
        if d_model <= 0 or n_heads <= 0 or (head_dim is not None and head_dim <= 0):
            raise ValueError(
                f"MultiHeadAttention: sizes must be positive, got d_model={d_model}, n_heads={n_heads}, "
                f"head_dim={head_dim}"
            )
        if head_dim is None and d_model % n_heads:
            raise ValueError(f"MultiHeadAttention: d_model={d_model} is not divisible by n_heads={n_heads}")
        if score not in SCORES:
            raise ValueError(f"MultiHeadAttention: score={score!r} must be one of {SCORES}")
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        if n_kv_heads <= 0 or n_heads % n_kv_heads:
            raise ValueError(f"MultiHeadAttention: n_heads={n_heads} must be a multiple of "
                             f"n_kv_heads={n_kv_heads} (each key/value head serves a whole group)")
        if shared_qk and n_kv_heads != n_heads:
            raise ValueError("MultiHeadAttention: shared_qk makes the keys with q_proj, so it needs "
                             f"n_kv_heads = n_heads, got n_kv_heads={n_kv_heads}, n_heads={n_heads}")
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads
        self.head_dim = head_dim if head_dim is not None else d_model // n_heads
        inner, kv_inner = n_heads * self.head_dim, n_kv_heads * self.head_dim
        self.q_proj = nn.Linear(d_model, inner, bias=bias or qkv_bias)
        self.k_proj = None if shared_qk else nn.Linear(d_model, kv_inner, bias=bias or qkv_bias)
        self.v_proj = nn.Linear(d_model, kv_inner, bias=bias or qkv_bias)
        self.out_proj = nn.Linear(inner, d_model, bias=bias)
        self.rotary = None if rope_theta is None else RotaryEmbedding(self.head_dim, max_len, rope_theta)
        # The one place where the scoring variant is chosen. The scale is a Python float: a
        # numpy float64 would promote float32 scores to float64.
        factor = 1.0 / math.sqrt(self.head_dim) if scale else 1.0
        self.score = DotScore(factor) if score == "dot" else AdditiveScore(n_heads, self.head_dim, factor)
        self.fused = score == "dot"  # dot scores may run as F.scaled_dot_product_attention
        self.dropout = nn.Dropout(dropout)
        self.record_weights = False
        self.attn_weights: np.ndarray | None = None
        self.attn_scores: np.ndarray | None = None

    def split_heads(self, x: Tensor, heads: int | None = None) -> Tensor:
        """(B, T, heads * d_k) -> (B, heads, T, d_k), a view; heads defaults to n_heads."""
        B, T, _ = x.shape
        # (B, T, heads, d_k) -> (B, heads, T, d_k)
        return x.reshape(B, T, heads or self.n_heads, self.head_dim).transpose(1, 2)

    def forward(self, query: Tensor, key: Tensor | None = None, value: Tensor | None = None,
                causal: bool = False, key_padding_mask: Any = None,
                memory: Tensor | None = None, cache: KVCache | None = None,
                position_ids: np.ndarray | None = None) -> Tensor:
        """query (B, T, d_model) -> (B, T, d_model).

        key, value: (B, S, d_model) each, the sources of the keys and of the values, as in
            torch.nn.MultiheadAttention (batch first); leave both out (or pass the query
            itself) for self-attention.
        memory: (B, S, d_model), short for key = value = memory (cross-attention on an
            encoder's output). Causal masking is for self-attention only.
        key_padding_mask: bool (B, S), True = a padding key (of x, or of the memory) that no
            query attends to. A query that can see no key at all gets all-zero weights, as in
            PyTorch's scaled_dot_product_attention.
        cache: a `KVCache` for decoding step by step (see there); the mask then covers every
            key kept, the earlier positions' and the new ones.
        position_ids: (B, T) integers, the positions RoPE rotates the new queries and keys by
            (default: from the cache's length on); without RoPE they are not used here.
        """
        x = query
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"MultiHeadAttention: expected input (B, T, {self.d_model}), "
                             f"got shape {x.shape}")
        B, T, _ = x.shape
        if memory is not None:
            if key is not None or value is not None:
                raise ValueError("MultiHeadAttention: give either key and value or memory, not both")
            key = value = memory
        if (key is None) != (value is None):
            raise ValueError("MultiHeadAttention: give both key and value (or neither, for self-attention)")
        cross = key is not None and not (key is x and value is x)
        if cross:
            for name, source in (("key", key), ("value", value)):
                if source.ndim != 3 or source.shape[0] != B or source.shape[-1] != self.d_model:
                    raise ValueError(
                        f"MultiHeadAttention: {'memory' if memory is not None else name} must be "
                        f"(B, S, d_model) = ({B}, S, {self.d_model}) for queries of shape {x.shape}, "
                        f"got shape {source.shape}"
                    )
            if key.shape[1] != value.shape[1]:
                raise ValueError(f"MultiHeadAttention: key and value must have the same length S, "
                                 f"got shapes {key.shape} and {value.shape}")
            if causal:
                raise ValueError("MultiHeadAttention: causal masking is for self-attention, "
                                 "not with a memory")
        else:
            key = value = x
        offset = cache.length if cache is not None and not cross else 0  # the first query's position

        q = self.split_heads(self.q_proj(x))  # (B, h, T, d_k)
        if self.rotary is not None and not cross:
            q = self.rotary(q, offset, position_ids)
        k, v = self.keys_values(q, key, value, cross, cache, offset, position_ids)  # (B, g, S, d_k) each
        S = k.shape[2]
        keys_name = "S" if cross or cache is not None else "T"
        mask = attention_mask(B, T, S, causal, key_padding_mask, keys_name)  # (B or 1, 1, T, S) or None

        if self.fused and not self.record_weights:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=None if mask is None else ~mask,  # bool: True = may attend
                dropout_p=self.dropout.p if self.training else 0.0, scale=self.score.scale,
                enable_gqa=self.n_kv_heads != self.n_heads)  # (B, h, T, d_k)
            return self.out_proj(self.merge_heads(y))

        groups = self.n_heads // self.n_kv_heads
        k, v = repeat_kv(k, groups), repeat_kv(v, groups)  # (B, h, S, d_k) each
        scores = self.score(q, k)  # (B, h, T, S)
        if self.record_weights:
            self.attn_scores = scores.data
        if mask is not None:
            # Adding the most negative number where a key is hidden does what masked_fill does
            # to the softmax (its exp underflows to exactly 0) at a fifth of the cost (measured),
            # and backward has nothing to do for a constant. Finite, not -inf: a query with every
            # key hidden gets uniform weights rather than 0/0 = NaN, and is zeroed below.
            scores = scores + np.where(mask, np.finfo(scores.dtype).min, 0).astype(scores.dtype)
        weights = F.softmax(scores, dim=-1)  # (B, h, T, S)
        if key_padding_mask is not None:
            blind = mask.all(axis=-1, keepdims=True)  # (B, 1, T, 1): queries with no key to see
            if blind.any():
                weights = weights.masked_fill(blind, 0.0)
        if self.record_weights:
            self.attn_weights = weights.data

        y = self.dropout(weights) @ v  # (B, h, T, S) @ (B, h, S, d_k) -> (B, h, T, d_k)
        return self.out_proj(self.merge_heads(y))

    def merge_heads(self, y: Tensor) -> Tensor:
        """(B, h, T, d_k) -> (B, T, h * d_k)."""
        B, _, T, _ = y.shape
        return y.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim)  # (B, T, h, d_k) -> ...

    def keys_values(self, q: Tensor, key: Tensor, value: Tensor, cross: bool, cache: KVCache | None,
                    offset: int = 0, position_ids: np.ndarray | None = None) -> tuple[Tensor, Tensor]:
        """The keys and values, (B, g, S, d_k) each, projected from `key` and `value` (the
        input itself in self-attention, whose keys RoPE rotates from position `offset`, or by
        `position_ids`), taken
        from and kept in the cache when there is one."""
        if cross and cache is not None and cache.k is not None:
            return cache.k, cache.v  # cross-attention: the memory's keys and values, computed once
        if self.k_proj is None:  # shared Q/K: the keys are the queries' projection of the source
            k = self.split_heads(self.q_proj(key)) if cross else q
        else:
            k = self.split_heads(self.k_proj(key), self.n_kv_heads)
            if self.rotary is not None and not cross:
                k = self.rotary(k, offset, position_ids)
        v = self.split_heads(self.v_proj(value), self.n_kv_heads)
        if cache is not None:
            if not cross and cache.k is not None:  # self-attention: earlier positions, then these
                k, v = minigrad.cat([cache.k, k], dim=2), minigrad.cat([cache.v, v], dim=2)
            cache.k, cache.v = k, v
        return k, v

    def extra_repr(self) -> str:
        kv = "" if self.n_kv_heads == self.n_heads else f", n_kv_heads={self.n_kv_heads}"
        return f"d_model={self.d_model}, n_heads={self.n_heads}{kv}, head_dim={self.head_dim}"
