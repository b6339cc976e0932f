"""Seq2SeqTransformer: the whole model of "Attention Is All You Need", source ids in, target
logits out.

    src_ids (B, S) -> src_emb * sqrt(d) + positions -> dropout -> encoder -> memory (B, S, d)
    tgt_ids (B, T) -> tgt_emb * sqrt(d) + positions -> dropout -> decoder(., memory) (B, T, d)
                   -> logits = x tgt_emb^T                                 (B, T, tgt_vocab)

As in the paper, the embeddings are scaled by sqrt(d_model), the positions are the fixed
sinusoids (or learned tables), and the output layer shares its weights with the target
embedding (and, with `share_embeddings`, with the source embedding too). Source positions
holding PAD_ID are hidden from the encoder's self-attention and from every cross-attention.
The decoder reads its input shifted right: tgt_ids = BOS y_1 .. y_{T-1}, targets = y_1 .. y_T.
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
from .encoder_decoder import EncoderDecoder
from .model import sample, sinusoidal_table
from .seq2seq_config import BOS_ID, EOS_ID, PAD_ID, Seq2SeqConfig


class Seq2SeqTransformer(nn.Module):
    """Embeddings, an `EncoderDecoder` (`transformer`) and a head tied to the target embedding.

    `forward(src_ids, tgt_ids, targets=None)` returns `(logits, loss)`, `loss` being the mean
    cross-entropy (with the config's label smoothing) over the targets that are not -100.
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = c = config
        self.src_emb = nn.Embedding(c.src_vocab_size, c.d_model)
        self.tgt_emb = self.src_emb if c.share_embeddings else nn.Embedding(c.tgt_vocab_size, c.d_model)
        for emb in {id(self.src_emb): self.src_emb, id(self.tgt_emb): self.tgt_emb}.values():
            # N(0, 1/d_model): times sqrt(d_model) a token's vector starts at the size of the
            # positions, and the tied head's first logits near unit size (N(0, 1) would make
            # them sqrt(d_model) times larger).
            nn.init.normal_(emb.weight, std=c.d_model**-0.5)
        if c.pos_encoding == "learned":
            self.src_pos_emb = nn.Embedding(c.max_len, c.d_model)
            self.tgt_pos_emb = nn.Embedding(c.max_len, c.d_model)
        else:
            self.pos_table = sinusoidal_table(c.max_len, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.transformer = EncoderDecoder(
            c.d_model,
            c.n_heads,
            c.n_encoder_layers,
            c.n_decoder_layers,
            c.ff_dim,
            c.dropout,
            c.activation,
            c.norm_first,
        )
        self.emb_scale = math.sqrt(c.d_model)  # a Python float: keeps float32 float32

    # ----- the pieces ------------------------------------------------------------------------
    def check_ids(self, ids: Any, name: str, vocab_size: int) -> np.ndarray:
        """The ids as an integer (B, L) array, or an error naming the shape or the limit broken."""
        ids = ids.data if isinstance(ids, Tensor) else np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"Seq2SeqTransformer: {name} must be integers, got dtype {ids.dtype}")
        if ids.ndim != 2 or 0 in ids.shape:
            raise ValueError(
                f"Seq2SeqTransformer: expected {name} of shape (batch, length) with both >= 1, "
                f"got shape {ids.shape}"
            )
        if ids.shape[1] > self.config.max_len:
            raise ValueError(
                f"Seq2SeqTransformer: {name} of shape {ids.shape} is longer than max_len "
                f"{self.config.max_len}"
            )
        low, high = ids.min(), ids.max()
        if low < 0 or high >= vocab_size:
            raise IndexError(
                f"Seq2SeqTransformer: {name} holds token id {low if low < 0 else high}, outside "
                f"[0, {vocab_size})"
            )
        return ids

    def embed(self, ids: np.ndarray, side: str, start: int = 0) -> Tensor:
        """Token ids (B, L) of the "src" or "tgt" side at positions start.. -> (B, L, d_model)."""
        emb = self.src_emb if side == "src" else self.tgt_emb
        L = ids.shape[1]
        if self.config.pos_encoding == "learned":
            positions = (self.src_pos_emb if side == "src" else self.tgt_pos_emb)(np.arange(start, start + L))
        else:
            positions = Tensor(self.pos_table[start : start + L].astype(emb.weight.dtype))
        return self.drop(emb(ids) * self.emb_scale + positions)  # (B, L, d) + (L, d)

    def encode(self, src_ids: Any) -> tuple[Tensor, np.ndarray]:
        """src_ids (B, S) -> (memory (B, S, d_model), source padding mask (B, S), True = PAD_ID)."""
        src = self.check_ids(src_ids, "src_ids", self.config.src_vocab_size)
        padding = src == PAD_ID
        return self.transformer.encode(self.embed(src, "src"), padding), padding

    def head(self, x: Tensor) -> Tensor:
        """(B, T, d_model) -> logits (B, T, tgt_vocab_size), with the target embedding's weights."""
        return F.linear(x, self.tgt_emb.weight)

    # ----- the model ---------------------------------------------------------------------------
    def forward(self, src_ids: Any, tgt_ids: Any, targets: Any = None) -> tuple[Tensor, Tensor | None]:
        """src_ids (B, S), tgt_ids (B, T) integers -> (logits (B, T, tgt_vocab_size), loss or None).

        `targets` (B, T) integers, -100 where no loss is wanted (after the EOS).
        """
        memory, padding = self.encode(src_ids)
        tgt = self.check_ids(tgt_ids, "tgt_ids", self.config.tgt_vocab_size)
        if tgt.shape[0] != memory.shape[0]:
            raise ValueError(
                f"Seq2SeqTransformer: src_ids of shape {memory.shape[:2]} and tgt_ids of shape "
                f"{tgt.shape} differ in batch size"
            )
        x = self.transformer.decode(self.embed(tgt, "tgt"), memory, memory_key_padding_mask=padding)
        logits = self.head(x)  # (B, T, tgt_vocab_size)
        if targets is None:
            return logits, None
        targets = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
        if targets.shape != tgt.shape:
            raise ValueError(
                f"Seq2SeqTransformer: targets of shape {targets.shape} do not match tgt_ids of "
                f"shape {tgt.shape}"
            )
        B, T = tgt.shape
        loss = F.cross_entropy(
            logits.reshape(B * T, -1),
            targets.reshape(B * T),
            ignore_index=-100,
            label_smoothing=self.config.label_smoothing,
        )
        return logits, loss

    def generate(
        self,
        src_ids: Any,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: np.random.Generator | None = None,
        use_cache: bool = True,
    ) -> np.ndarray:
        """Write a target for each source of `src_ids` (B, S) (or (S,)), at most `max_new_tokens`
        tokens after BOS; returns the int64 array (B, n) of the tokens written, n <= max_new_tokens
        (or (n,) for 1-D input). A row ends with its EOS, then PAD_ID; decoding stops once every
        row has its EOS.

        Each token is drawn as `TransformerLM.generate` draws it (temperature 0 is greedy;
        `top_k` keeps the k likeliest). The source is encoded once. With `use_cache` (the
        default) every decoder self-attention keeps its keys and values and each cross-attention
        projects the memory once, so a step costs one position; without it each step runs the
        decoder on the whole prefix again (the same tokens, slower). Runs without a graph and
        with dropout off, then restores the training mode.
        """
        if not 0 <= temperature < math.inf:  # also refuses NaN
            raise ValueError(f"generate: temperature must be a finite number >= 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"generate: top_k must be >= 1, got {top_k}")
        if not 1 <= max_new_tokens <= self.config.max_len:
            raise ValueError(
                f"generate: max_new_tokens={max_new_tokens} must be in [1, max_len = {self.config.max_len}] "
                "(the decoder reads BOS and every token written but the last)"
            )
        src = np.asarray(src_ids.data if isinstance(src_ids, Tensor) else src_ids)
        single = src.ndim == 1
        src = src[None] if single else src
        rng = rng if rng is not None else default_generator()
        was_training = self.training
        self.eval()
        try:
            with minigrad.no_grad():
                out = self._decode_loop(src, max_new_tokens, temperature, top_k, rng, use_cache)
        finally:
            self.train(was_training)
        return out[0] if single else out

    def _decode_loop(
        self,
        src: np.ndarray,
        max_new_tokens: int,
        temperature: float,
        top_k: int | None,
        rng: np.random.Generator,
        use_cache: bool,
    ) -> np.ndarray:
        memory, padding = self.encode(src)
        B = len(src)
        caches = self.transformer.decoder.new_caches() if use_cache else None
        written = np.full((B, 1), BOS_ID, dtype=np.int64)  # the decoder's input so far
        done = np.zeros(B, dtype=bool)
        for step in range(max_new_tokens):
            if use_cache:  # only the newest position: the earlier ones are in the caches
                x = self.embed(written[:, -1:], "tgt", start=step)
            else:
                x = self.embed(written, "tgt")
            y = self.transformer.decode(x, memory, memory_key_padding_mask=padding, caches=caches)
            token = sample(self.head(y[:, -1]).data, temperature, top_k, rng)  # (B,)
            token = np.where(done, PAD_ID, token)
            done |= token == EOS_ID
            written = np.concatenate([written, token[:, None]], axis=1)
            if done.all():
                break
        return written[:, 1:]

    # ----- files -------------------------------------------------------------------------------
    def save(self, path: str | PathLike, data: Mapping[str, Any] | None = None) -> None:
        """Write the weights and the config to one model file (`transformer.checkpoint`), with
        the data's `describe()` when given, as `TransformerLM.save` does."""
        checkpoint.write(path, "Seq2SeqTransformer", self.config, self.state_dict(), data=data)

    @classmethod
    def load(cls, path: str | PathLike, dtype: Any = None) -> Seq2SeqTransformer:
        """Rebuild the model of a file written by `save` or of a training checkpoint, in the
        file's dtype (or `dtype`); the file is checked before anything is built."""
        return cls.from_checkpoint(checkpoint.read(path), dtype)

    @classmethod
    def from_checkpoint(cls, ck: checkpoint.Checkpoint, dtype: Any = None) -> Seq2SeqTransformer:
        """The model of a checkpoint that `transformer.checkpoint.read` returned."""
        return checkpoint.build(cls, ck, dtype)
