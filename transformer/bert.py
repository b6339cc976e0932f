"""BertLM: BERT (Devlin et al., 2019), an encoder read in both directions, with its masked-LM head.

    ids (B, T) -> tok_emb(ids) + pos_emb[:T] + type_emb(token_type_ids)   (B, T, d)  three tables
               -> emb_norm -> dropout                                       (B, T, d)
               -> blocks[0] ... blocks[n-1]  (post-LN, not causal)          (B, T, d)  `encode`
               -> mlm_dense -> GELU -> mlm_norm -> head (tied to tok_emb)   (B, T, vocab_size)
    pool(hidden) = tanh(pooler(hidden[:, 0]))                               (B, d)     the [CLS] vector

The blocks are the same `TransformerBlock`s as a TransformerLM's (post-LN, exact GELU, the
LayerNorm eps of the config), run without the causal mask: every token sees the whole text.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import Tensor, nn
from minigrad import functional as F

from .block import ACTIVATIONS, TransformerBlock
from .config import TransformerConfig


class BertLM(nn.Module):
    """BERT's encoder with token types, an embedding LayerNorm, a pooler and (with `mlm_head`)
    the masked-LM head whose output matrix is the token embedding.

    `config` gives the sizes and `activation`, `layer_norm_eps`, `dropout`; `norm_first` must be
    False and `causal` False (BERT's layout). `type_vocab_size` is the number of token types
    (segments A and B: 2).
    """

    def __init__(self, config: TransformerConfig, type_vocab_size: int = 2, mlm_head: bool = True,
                 pooler: bool = True) -> None:
        super().__init__()
        if config.norm_first or config.causal or config.pos_encoding != "learned":
            raise ValueError("BertLM: the config must have norm_first=False, causal=False and learned "
                             f"positions, got norm_first={config.norm_first}, causal={config.causal}, "
                             f"pos_encoding={config.pos_encoding!r}")
        c = self.config = config
        self.type_vocab_size = type_vocab_size
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = nn.Embedding(c.max_len, c.d_model)
        self.type_emb = nn.Embedding(type_vocab_size, c.d_model)
        self.emb_norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            [TransformerBlock(c.d_model, c.n_heads, c.ff_dim, c.dropout, norm_first=False,
                              activation=c.activation, norm_eps=c.layer_norm_eps, head_dim=c.head_dim)
             for _ in range(c.n_layers)]
        )
        self.pooler = nn.Linear(c.d_model, c.d_model) if pooler else None
        self.mlm_head = mlm_head
        if mlm_head:
            self.mlm_dense = nn.Linear(c.d_model, c.d_model)
            self.mlm_act = ACTIVATIONS[c.activation]()
            self.mlm_norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
            self.head = nn.Linear(c.d_model, c.vocab_size, bias=c.head_bias)
            if c.tie_embeddings:
                self.head.weight = self.tok_emb.weight

    def _check(self, ids: Any, token_type_ids: Any) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if ids.dtype.kind not in "iu" or ids.ndim != 2 or 0 in ids.shape:
            raise ValueError(f"BertLM: expected integer ids of shape (batch, time), got {ids.dtype} of shape "
                             f"{ids.shape}")
        if ids.shape[1] > self.config.max_len:
            raise ValueError(f"BertLM: sequence length {ids.shape[1]} exceeds max_len {self.config.max_len}")
        if token_type_ids is None:
            types = np.zeros_like(ids)
        else:
            types = np.asarray(token_type_ids.data if isinstance(token_type_ids, Tensor) else token_type_ids)
            if types.shape != ids.shape or types.dtype.kind not in "iu":
                raise ValueError(f"BertLM: token_type_ids must be integers of the ids' shape {ids.shape}, "
                                 f"got {types.dtype} of shape {types.shape}")
        for name, values, limit in (("token id", ids, self.config.vocab_size),
                                    ("token type", types, self.type_vocab_size)):
            bad = values[(values < 0) | (values >= limit)]
            if bad.size:
                raise IndexError(f"BertLM: {name} {bad[0]} is outside [0, {limit})")
        return ids, types

    def encode(self, ids: Any, token_type_ids: Any = None, key_padding_mask: Any = None) -> Tensor:
        """ids (B, T) -> the last hidden states (B, T, d_model), Hugging Face's
        `BertModel(...).last_hidden_state`. `token_type_ids` (B, T) default to 0 (segment A);
        `key_padding_mask` (B, T) bool is True where a token is padding (Hugging Face's
        `attention_mask` is the opposite: 1 = a real token; pass `attention_mask == 0`)."""
        ids, types = self._check(ids, token_type_ids)
        T = ids.shape[1]
        x = self.tok_emb(ids) + self.pos_emb(np.arange(T)) + self.type_emb(types)  # (B, T, d)
        x = self.drop(self.emb_norm(x))
        for block in self.blocks:
            x = block(x, False, key_padding_mask)  # (B, T, d)
        return x

    def pool(self, hidden: Tensor) -> Tensor:
        """The pooled output (B, d_model): tanh(pooler(hidden[:, 0])), the first ([CLS]) token's
        vector, Hugging Face's `pooler_output`."""
        if self.pooler is None:
            raise ValueError("BertLM.pool: this model has no pooler (its checkpoint had none)")
        return F.tanh(self.pooler(hidden[:, 0]))

    def forward(self, ids: Any, token_type_ids: Any = None, key_padding_mask: Any = None,
                targets: Any = None) -> tuple[Tensor, Tensor | None]:
        """ids (B, T) -> (masked-LM logits (B, T, vocab_size), loss or None): the loss is the
        mean cross-entropy over the positions whose target is not -100."""
        if not self.mlm_head:
            raise ValueError("BertLM: this model has no masked-LM head; use encode()")
        x = self.encode(ids, token_type_ids, key_padding_mask)
        logits = self.head(self.mlm_norm(self.mlm_act(self.mlm_dense(x))))  # (B, T, vocab_size)
        if targets is None:
            return logits, None
        targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
        B, T = x.shape[:2]
        if targets.shape != (B, T):
            raise ValueError(f"BertLM: targets of shape {targets.shape} do not match ids of shape {(B, T)}")
        return logits, F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T), ignore_index=-100)
