"""transformer.hf.load_tokenizer against Hugging Face's tokenizers for the same folder. The
folders are built here, offline: a tiny byte-level BPE and a tiny WordPiece trained on a
small corpus with non-ASCII text."""
from __future__ import annotations

import json

import pytest

from transformer import hf

tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")

CORPUS = [
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "Attention is all you need; attention weights sum to one.",
    "Ünïcödé: naïve café, Straße, smörgåsbord, Ελληνικά, русский текст, 日本語のテキスト, 中文.",
    "Emoji 🙂 and symbols: €100, ±3°, x² + y² = z², — dashes — and “quotes”.",
    "  leading spaces,\ttabs and\nnew lines  ",
    "<|endoftext|> marks the end of a document.<|endoftext|>",
]
TEXTS = CORPUS + ["Unseen wörds: Zürich, Kraków, 東京 and 🙂🙂.", "", "a", "HELLO World", "[CLS] x [MASK]"]


@pytest.fixture(scope="module")
def bpe_folders(tmp_path_factory):
    """A GPT-2 style folder (vocab.json + merges.txt) and a tokenizer.json folder, one BPE."""
    backend = tokenizers.Tokenizer(tokenizers.models.BPE())
    backend.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator(CORPUS * 3, trainer)
    gpt2 = tmp_path_factory.mktemp("gpt2-tokenizer")
    backend.model.save(str(gpt2))  # vocab.json + merges.txt
    whole = tmp_path_factory.mktemp("tokenizer-json")
    backend.save(str(whole / "tokenizer.json"))
    return gpt2, whole


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    backend = tokenizers.BertWordPieceTokenizer(lowercase=True)
    backend.train_from_iterator(CORPUS * 3, vocab_size=300)
    folder = tmp_path_factory.mktemp("bert-tokenizer")
    backend.save_model(str(folder))  # vocab.txt
    return folder


def assert_same(ours, theirs):
    for text in TEXTS:
        ids = ours.encode(text)
        assert ids == theirs(text)["input_ids"], text
        assert ours.decode(ids) == theirs.decode(ids), text


def test_gpt2_vocab_and_merges_equal_hugging_face(bpe_folders):
    folder = bpe_folders[0]
    reference = transformers.GPT2Tokenizer(vocab=str(folder / "vocab.json"),
                                           merges=str(folder / "merges.txt"))
    ours = hf.load_tokenizer(folder)
    assert 1 < len(ours.encode(CORPUS[0])) < 0.7 * len(CORPUS[0])  # merges were applied
    assert_same(ours, reference)
    assert ours.decode(ours.encode(CORPUS[2])) == CORPUS[2]  # byte-level: lossless


def test_tokenizer_json_equals_hugging_face(bpe_folders):
    folder = bpe_folders[1]
    reference = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    assert_same(hf.load_tokenizer(folder), reference)


@pytest.mark.parametrize("lower", [True, False])
def test_bert_vocab_txt_equals_hugging_face(bert_folder, tmp_path, lower):
    (tmp_path / "vocab.txt").write_bytes((bert_folder / "vocab.txt").read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": lower}))
    reference = transformers.BertTokenizer(vocab=str(tmp_path / "vocab.txt"), do_lower_case=lower)
    ours = hf.load_tokenizer(tmp_path)
    assert ours.encode("x")[0] == ours.backend.token_to_id("[CLS]")
    assert_same(ours, reference)


def test_folder_without_a_tokenizer(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer.json, vocab.json"):
        hf.load_tokenizer(tmp_path)


def test_decode_refuses_ids_outside_the_vocabulary(bpe_folders):
    tokenizer = hf.load_tokenizer(bpe_folders[0])
    with pytest.raises(IndexError, match=f"token id {tokenizer.vocab_size} is outside"):
        tokenizer.decode([0, tokenizer.vocab_size])
