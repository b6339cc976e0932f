"""The command line on a Hugging Face checkpoint folder: sample, render-attention and
render-graph read the folder and its tokenizer (text in, text out)."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad
from transformer import TransformerConfig, TransformerLM, hf
from transformer.cli import main

tokenizers = pytest.importorskip("tokenizers")
pytest.importorskip("safetensors")

TEXT = ["The lighthouse keeper climbed the stairs.", "Über den Wolken, naïve café."]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    bpe.train_from_iterator(TEXT, tokenizers.trainers.BpeTrainer(
        vocab_size=290, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet()))
    path = tmp_path_factory.mktemp("gpt2-folder")
    bpe.save(str(path / "tokenizer.json"))
    minigrad.manual_seed(0)
    config = TransformerConfig(vocab_size=bpe.get_vocab_size(), max_len=24, d_model=16, n_heads=2, n_layers=2,
                               norm_first=True, activation="gelu_tanh", tie_embeddings=True, head_bias=False)
    hf.save_pretrained(TransformerLM(config), path)
    return path


def test_sample_continues_the_prompt_through_the_tokenizer(folder, capsys):
    assert main(["sample", str(folder), "--prompt", "The café", "--temperature", "0", "--length", "6"]) == 0
    model, tokenizer = hf.load_pretrained(folder), hf.load_tokenizer(folder)
    expected = model.generate(np.array(tokenizer.encode("The café")), 6, temperature=0)
    printed = capsys.readouterr().out
    assert printed == tokenizer.decode(expected.tolist()) + "\n"
    assert printed.startswith("The café")


def test_render_commands_on_a_folder(folder, tmp_path, capsys):
    attention = tmp_path / "attention.dot"
    assert main(["render-attention", str(folder), "--input", "The lighthouse", "--layer", "1",
                 "-o", str(attention)]) == 0
    assert "layer 1" in attention.read_text()
    graph = tmp_path / "graph.dot"
    assert main(["render-graph", str(folder), "--depth", "2", "-o", str(graph)]) == 0
    assert "blocks" in graph.read_text()


def test_sample_on_a_folder_needs_a_prompt(folder, capsys):
    assert main(["sample", str(folder)]) == 1
    assert "give a --prompt" in capsys.readouterr().err
