"""Seq2SeqConfig: every size and option of a Seq2SeqTransformer in one dataclass.

Both vocabularies start with the same three special tokens, so one id means the same thing on
either side: PAD_ID fills a sequence up to the batch's length (padded source positions are
hidden from every attention), BOS_ID starts every decoder input, EOS_ID ends every target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .block import ACTIVATIONS
from .config import POS_ENCODINGS
from .fields import check_fields, from_dict

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>")  # the tokens of ids 0, 1, 2 in both vocabularies

# The accepted range (inclusive) of every number and the choices of every string, checked when a
# config is made and when one is read from a file, before anything is built.
SEQ2SEQ_LIMITS: dict[str, tuple[float, float]] = {
    "src_vocab_size": (EOS_ID + 1, 2**24),
    "tgt_vocab_size": (EOS_ID + 1, 2**24),
    "max_len": (2, 2**20),
    "d_model": (1, 2**16),
    "n_heads": (1, 2**12),
    "n_encoder_layers": (1, 2**12),
    "n_decoder_layers": (1, 2**12),
    "d_ff": (1, 2**20),
    "dropout": (0.0, 1.0),  # and below 1, checked in __post_init__
    "label_smoothing": (0.0, 1.0),  # likewise
}
SEQ2SEQ_CHOICES: dict[str, tuple[str, ...]] = {
    "activation": tuple(ACTIVATIONS),
    "pos_encoding": POS_ENCODINGS,
}


@dataclass
class Seq2SeqConfig:
    src_vocab_size: int  # source token ids are in [0, src_vocab_size), the first three special
    tgt_vocab_size: int  # target token ids likewise
    max_len: int  # longest source, and longest target (BOS included), the model accepts
    d_model: int = 64  # width of every token's vector, the residual stream
    n_heads: int = 4  # attention heads in every attention
    n_encoder_layers: int = 2  # encoder blocks
    n_decoder_layers: int = 2  # decoder blocks
    d_ff: int | None = None  # hidden width of the feed-forward networks; None means 4 * d_model
    dropout: float = 0.0  # dropout probability, placed as in torch.nn.Transformer
    activation: str = "relu"  # the feed-forward's nonlinearity: "relu" (the paper's) or "gelu"
    norm_first: bool = False  # False: post-LN as in the paper; True: pre-LN
    pos_encoding: str = "sinusoidal"  # the paper's fixed "sinusoidal" positions, or "learned" tables
    share_embeddings: bool = False  # one embedding for source and target (needs one vocabulary)
    label_smoothing: float = 0.0  # of the loss's targets; the paper trains with 0.1

    def __post_init__(self) -> None:
        check_fields(self, SEQ2SEQ_LIMITS, SEQ2SEQ_CHOICES)
        if self.d_model % self.n_heads:
            raise ValueError(
                f"Seq2SeqConfig: d_model={self.d_model} is not divisible by n_heads={self.n_heads}"
            )
        for name in ("dropout", "label_smoothing"):
            if getattr(self, name) >= 1.0:
                raise ValueError(f"Seq2SeqConfig: {name}={getattr(self, name)} must be in [0, 1)")
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(
                "Seq2SeqConfig: share_embeddings needs one vocabulary, got "
                f"src_vocab_size={self.src_vocab_size} and tgt_vocab_size={self.tgt_vocab_size}"
            )

    @classmethod
    def from_dict(cls, values: Any) -> Seq2SeqConfig:
        """A config from untrusted JSON (a checkpoint's): unknown or missing keys, wrong types
        and values outside SEQ2SEQ_LIMITS are one-line errors naming the key."""
        return from_dict(cls, values)

    def max_elements(self) -> int:
        """A generous upper bound on the array elements a model of this config allocates
        (parameters and fixed tables), computed without building it (see
        `transformer.checkpoint`)."""
        d, ff = self.d_model, self.ff_dim
        tables = (self.src_vocab_size + self.tgt_vocab_size) * d + 2 * self.max_len * d + 8 * d
        encoder = 4 * d * d + 3 * d * ff + ff + 16 * d
        decoder = 8 * d * d + 3 * d * ff + ff + 24 * d
        return tables + self.n_encoder_layers * encoder + self.n_decoder_layers * decoder

    @property
    def ff_dim(self) -> int:
        """The feed-forward width actually used (d_ff, or 4 * d_model when d_ff is None)."""
        return self.d_ff if self.d_ff is not None else 4 * self.d_model

    def to_dict(self) -> dict[str, Any]:
        """Plain values only, for JSON."""
        return asdict(self)
