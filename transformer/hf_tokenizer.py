"""The tokenizer of a Hugging Face folder: text to the ids a checkpoint was trained on, and back.

    tokenizer = load_tokenizer("gpt2-folder")
    ids = tokenizer.encode("Hello world")       # list[int], as Hugging Face's tokenizer gives
    text = tokenizer.decode(ids)

Three layouts are read, in this order: `tokenizer.json` (the `tokenizers` library's own file,
complete in itself), GPT-2's `vocab.json` + `merges.txt` (byte-level BPE), and BERT's
`vocab.txt` (WordPiece with BERT's normalizer; `[CLS] ... [SEP]` around each text, lower-cased
unless `tokenizer_config.json` says `"do_lower_case": false`). The two older layouts are
assembled the way `transformers` assembles them, so the ids are the same. Needs the optional
`tokenizers` package (`pip install -e ".[hf]"`), imported only when a tokenizer is loaded.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

GPT2_SPECIAL = ("<|endoftext|>",)
BERT_SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class Tokenizer:
    """A loaded tokenizer: `encode(text) -> list[int]`, `decode(ids) -> str`, `vocab_size`."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend  # a tokenizers.Tokenizer

    @property
    def vocab_size(self) -> int:
        """Number of ids, added special tokens included."""
        return self.backend.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        """The ids of `text`, with the special tokens the folder's tokenizer adds (BERT's
        [CLS] and [SEP]; none for GPT-2)."""
        if not isinstance(text, str):
            raise TypeError(f"Tokenizer.encode: expected a str, got {type(text).__name__}")
        return self.backend.encode(text).ids

    def decode(self, ids: Sequence[int]) -> str:
        """The text of `ids`, special tokens kept (as Hugging Face's `decode` by default)."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise IndexError(f"Tokenizer.decode: token id {bad[0]} is outside [0, {self.vocab_size})")
        return self.backend.decode(ids, skip_special_tokens=False)

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size})"


def load_tokenizer(path: str | PathLike) -> Tokenizer:
    """The tokenizer of a Hugging Face folder: its tokenizer.json, or GPT-2's vocab.json +
    merges.txt, or BERT's vocab.txt."""
    import tokenizers  # the optional extra "hf"

    folder = Path(path)
    if (folder / "tokenizer.json").is_file():
        return Tokenizer(tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json")))
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return Tokenizer(_byte_level_bpe(tokenizers, folder))
    if (folder / "vocab.txt").is_file():
        return Tokenizer(_word_piece(tokenizers, folder))
    raise FileNotFoundError(f"load_tokenizer: {folder} has no tokenizer.json, vocab.json + merges.txt "
                            "or vocab.txt")


def _settings(folder: Path) -> dict[str, Any]:
    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"load_tokenizer: {path} is not JSON ({e})") from None
    if not isinstance(settings, dict):
        raise ValueError(f"load_tokenizer: {path} must hold a JSON object")
    return settings


def _add_special(backend: Any, tokenizers: Any, names: Sequence[str]) -> None:
    """Mark the special tokens the vocabulary has, so that text never splits them."""
    present = [t for t in names if backend.token_to_id(t) is not None]
    backend.add_special_tokens([tokenizers.AddedToken(t, special=True) for t in present])


def _byte_level_bpe(tokenizers: Any, folder: Path) -> Any:
    """GPT-2's tokenizer: byte-level BPE, no prefix space unless the config adds one."""
    settings = _settings(folder)
    model = tokenizers.models.BPE.from_file(str(folder / "vocab.json"), str(folder / "merges.txt"))
    backend = tokenizers.Tokenizer(model)
    prefix_space = bool(settings.get("add_prefix_space", False))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=prefix_space)
    backend.decoder = tokenizers.decoders.ByteLevel()
    _add_special(backend, tokenizers, GPT2_SPECIAL)
    return backend


def _word_piece(tokenizers: Any, folder: Path) -> Any:
    """BERT's tokenizer: BERT's normalizer and pre-tokenizer, WordPiece, [CLS] text [SEP]."""
    settings = _settings(folder)
    backend = tokenizers.Tokenizer(tokenizers.models.WordPiece.from_file(str(folder / "vocab.txt"),
                                                                         unk_token="[UNK]"))
    backend.normalizer = tokenizers.normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=bool(settings.get("tokenize_chinese_chars", True)),
        strip_accents=settings.get("strip_accents"), lowercase=bool(settings.get("do_lower_case", True)))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    backend.decoder = tokenizers.decoders.WordPiece(prefix="##")
    _add_special(backend, tokenizers, BERT_SPECIAL)
    cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    if cls_id is not None and sep_id is not None:
        backend.post_processor = tokenizers.processors.TemplateProcessing(
            single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return backend
