"""TransformerConfig: every size and option of a TransformerLM in one dataclass.

The experiment options (`scale`, `shared_qk`, `score`, `head_dim`) are fields here and keyword
arguments of `MultiHeadAttention`; the model passes them through unchanged, so each variant
is decided in exactly one place, the attention module's constructor.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .fields import check_fields, from_dict

POS_ENCODINGS = ("learned", "sinusoidal", "rope")
SCORES = ("dot", "additive")
NORMS = ("layernorm", "rmsnorm")
ACTIVATIONS = ("gelu", "gelu_tanh", "relu", "silu", "swiglu")

# The accepted range (inclusive) of every number and the choices of every string of a
# TransformerConfig, checked when a config is made and, before anything is built, when one is
# read from a file. A new field gets a line here; tests/test_checkpoint.py checks that every
# numeric and string field has one.
LIMITS: dict[str, tuple[float, float]] = {
    "vocab_size": (1, 2**24),
    "max_len": (1, 2**20),
    "d_model": (1, 2**16),
    "n_heads": (1, 2**12),
    "n_layers": (1, 2**12),
    "d_ff": (1, 2**20),
    "dropout": (0.0, 1.0),  # and below 1, checked in __post_init__
    "head_dim": (1, 2**16),
    "rope_theta": (1.0, 1e12),  # and above 1, checked in __post_init__
    "layer_norm_eps": (1e-20, 1.0),  # BERT's is 1e-12
    "n_kv_heads": (1, 2**12),
}
CHOICES: dict[str, tuple[str, ...]] = {"pos_encoding": POS_ENCODINGS, "score": SCORES, "norm": NORMS,
                                       "activation": ACTIVATIONS}


@dataclass
class TransformerConfig:
    vocab_size: int  # number of token ids; ids are in [0, vocab_size)
    max_len: int  # longest sequence the model accepts (size of the position table)
    d_model: int = 64  # width of every token's vector, the residual stream
    n_heads: int = 4  # attention heads per block
    n_layers: int = 2  # number of TransformerBlocks
    d_ff: int | None = None  # hidden width of the feed-forward network; None: see ff_dim
    dropout: float = 0.0  # dropout probability, placed as in torch.nn.TransformerEncoderLayer
    norm_first: bool = False  # False: post-LN as in the original paper; True: pre-LN (+ a final LayerNorm)
    pos_encoding: str = "learned"  # "learned" (a trained table), "sinusoidal" (fixed) or "rope" (rotary)
    causal: bool = True  # each position attends only to itself and earlier positions
    scale: bool = True  # divide attention scores by sqrt(d_k); False for the scaling experiment
    shared_qk: bool = False  # one projection for queries and keys (the score matrix becomes symmetric)
    score: str = "dot"  # "dot": q.k; "additive": Bahdanau's v^T tanh(q + k)
    head_dim: int | None = None  # d_k of each head; None means d_model // n_heads
    rope_theta: float = 10000.0  # base of the rotary angles (pos_encoding="rope")
    norm: str = "layernorm"  # "layernorm", or "rmsnorm" (Llama's)
    layer_norm_eps: float = 1e-5  # the eps of every norm, LayerNorm or RMSNorm (BERT: 1e-12, Llama: 1e-6)
    activation: str = "gelu"  # the feed-forward's: "gelu", "gelu_tanh", "relu", "silu" or "swiglu"
    n_kv_heads: int | None = None  # key/value heads (grouped-query attention); None means n_heads
    bias: bool = True  # biases in every linear layer (attention, feed-forward, head); Llama has none
    tie_embeddings: bool = False  # the head's weight is the token embedding (GPT-2, BERT)
    head_bias: bool = True  # the head adds a bias when `bias` is on too (GPT-2's has none)
    qkv_bias: bool = False  # biases on the query, key and value projections even when `bias` is off (Qwen2)

    def __post_init__(self) -> None:
        check_fields(self, LIMITS, CHOICES)
        if self.head_dim is None and self.d_model % self.n_heads:
            raise ValueError(
                f"TransformerConfig: d_model={self.d_model} is not divisible by n_heads={self.n_heads} "
                "(set head_dim to choose the size of each head yourself)"
            )
        if self.dropout >= 1.0:
            raise ValueError(f"TransformerConfig: dropout={self.dropout} must be in [0, 1)")
        if self.n_kv_heads is not None:
            if self.n_heads % self.n_kv_heads:
                raise ValueError(f"TransformerConfig: n_heads={self.n_heads} must be a multiple of "
                                 f"n_kv_heads={self.n_kv_heads}")
            if self.shared_qk and self.n_kv_heads != self.n_heads:
                raise ValueError("TransformerConfig: shared_qk needs n_kv_heads = n_heads")
        if self.rope_theta <= 1.0:
            raise ValueError(f"TransformerConfig: rope_theta={self.rope_theta} must be greater than 1")
        if self.pos_encoding == "rope" and (self.head_dim or self.d_model // self.n_heads) % 2:
            raise ValueError("TransformerConfig: pos_encoding='rope' rotates pairs of features, so the "
                             f"head size must be even, got {self.head_dim or self.d_model // self.n_heads}")

    @classmethod
    def llama(cls, vocab_size: int, max_len: int, **fields: Any) -> TransformerConfig:
        """The block layout of the Llama family (Touvron et al., 2023): pre-norm with RMSNorm
        (eps 1e-6) and a final norm, rotary positions, a SwiGLU feed-forward, no biases, causal.
        `fields` override any of these and set the sizes (n_kv_heads for grouped-query
        attention, as in Llama 2 70B and Llama 3)."""
        layout = dict(norm_first=True, norm="rmsnorm", layer_norm_eps=1e-6, pos_encoding="rope",
                      activation="swiglu", bias=False, causal=True, dropout=0.0)
        return cls(vocab_size=vocab_size, max_len=max_len, **{**layout, **fields})

    @classmethod
    def from_dict(cls, values: Any) -> TransformerConfig:
        """A config from untrusted JSON (a checkpoint's): unknown or missing keys, wrong types
        and values outside LIMITS are one-line errors naming the key."""
        return from_dict(cls, values)

    def max_elements(self) -> int:
        """A generous upper bound on the array elements a model of this config allocates
        (parameters and fixed tables), computed without building it: a loader compares it with
        the elements actually stored in a file before building anything."""
        d, inner = self.d_model, self.n_heads * (self.head_dim or self.d_model // self.n_heads)
        per_layer = 4 * d * inner + 4 * inner + 3 * d * self.ff_dim + self.ff_dim + 8 * d + inner
        per_layer += 2 * self.max_len * inner  # rotary tables (cos and sin), a generous bound
        tables = 2 * self.vocab_size * d + self.vocab_size + self.max_len * d + 2 * d
        return tables + self.n_layers * per_layer

    @property
    def ff_dim(self) -> int:
        """The feed-forward width actually used: d_ff, or when it is None 4 * d_model, and for
        SwiGLU 8/3 * d_model rounded up to a multiple of 8 (Llama's rule: three matrices with
        the parameters of two 4 * d_model ones)."""
        if self.d_ff is not None:
            return self.d_ff
        if self.activation == "swiglu":
            hidden = 8 * self.d_model // 3
            return -(-hidden // 8) * 8  # rounded up to a multiple of 8
        return 4 * self.d_model

    def to_dict(self) -> dict[str, Any]:
        """Plain values only, for JSON (what `TransformerLM.save` writes)."""
        return asdict(self)


