"""The command line on a Hugging Face checkpoint folder: sample, eval, render-attention and
render-graph read the folder and its tokenizer (text in, text out)."""
from __future__ import annotations

import math

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


def test_eval_prints_the_loss_and_perplexity_of_a_text(folder, tmp_path, capsys):
    text = tmp_path / "text.txt"
    text.write_text(" ".join(TEXT * 3), encoding="utf-8")  # longer than max_len: several windows
    assert main(["eval", str(folder), "--text", str(text)]) == 0
    printed = capsys.readouterr().out
    model, tokenizer = hf.load_pretrained(folder), hf.load_tokenizer(folder)
    ids = np.array(tokenizer.encode(text.read_text(encoding="utf-8")))
    assert len(ids) > 2 * model.config.max_len
    loss, count = hf.text_loss(model, ids)
    assert count == len(ids) - 1
    assert f"{count} predicted tokens" in printed
    assert f"loss {loss:.4f}, perplexity {math.exp(loss):.2f}" in printed
    w = model.config.max_len  # the same mean, window by window
    losses = [model(ids[None, i:i + w][:, :len(ids) - 1 - i], ids[None, i + 1:i + 1 + w])[1].item()
              for i in range(0, len(ids) - 1, w)]
    sizes = [min(w, len(ids) - 1 - i) for i in range(0, len(ids) - 1, w)]
    assert loss == pytest.approx(np.dot(losses, sizes) / sum(sizes), rel=1e-6)


def test_eval_on_a_folder_needs_a_text(folder, capsys):
    assert main(["eval", str(folder)]) == 1
    assert "give --text FILE" in capsys.readouterr().err


def test_llama_folder_samples_through_its_tokenizer(folder, tmp_path, capsys):
    minigrad.manual_seed(1)
    config = TransformerConfig.llama(vocab_size=hf.load_tokenizer(folder).vocab_size, max_len=24, d_model=16,
                                     n_heads=2, n_kv_heads=1, n_layers=1)
    llama = tmp_path / "llama"
    hf.save_pretrained(TransformerLM(config), llama)
    (llama / "tokenizer.json").write_bytes((folder / "tokenizer.json").read_bytes())
    assert main(["sample", str(llama), "--prompt", "Über", "--temperature", "0", "--length", "4"]) == 0
    assert capsys.readouterr().out.startswith("Über")
