"""Llama-family checkpoints through transformer.hf: random LlamaForCausalLM and
MistralForCausalLM from small configs (grouped-query heads, RoPE with a chosen theta, RMSNorm),
norms perturbed, saved with save_pretrained, loaded as a TransformerLM."""
from __future__ import annotations

import json

import numpy as np
import pytest

from transformer import hf
from transformer.viz import model_attention

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB, T = 37, 9


def random_llama(kind="llama", dtype=torch.float32, **overrides):
    torch.manual_seed(0)
    cls_config, cls_model = {"llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
                             "mistral": (transformers.MistralConfig, transformers.MistralForCausalLM)}[kind]
    settings = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=24,
                    rms_norm_eps=1e-5, tie_word_embeddings=False, attn_implementation="eager")
    config = cls_config(**{**settings, **overrides})
    if getattr(config, "rope_parameters", None) is not None:  # transformers >= 5 keeps it here
        config.rope_parameters["rope_theta"] = 500.0
    else:
        config.rope_theta = 500.0
    model = cls_model(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.3 * torch.randn_like(p))
    return model.to(dtype)


@pytest.mark.parametrize("kind", ["llama", "mistral"])
def test_llama_family_logits_attention_and_generation_equal_hugging_face(tmp_path, kind):
    reference = random_llama(kind)
    reference.save_pretrained(tmp_path)
    model = hf.load_pretrained(tmp_path)
    c = model.config
    layout = (c.norm, c.pos_encoding, c.activation, c.n_kv_heads, c.rope_theta)
    assert layout == ("rmsnorm", "rope", "swiglu", 2, 500.0)
    ids = np.random.default_rng(0).integers(0, VOCAB, (2, T))
    with torch.no_grad():
        expected = reference(torch.tensor(ids), output_attentions=True)
    np.testing.assert_allclose(model(ids)[0].data, expected.logits.numpy(), atol=1e-5, rtol=0)
    for (_, weights), theirs in zip(model_attention(model, ids[:1]), expected.attentions):
        np.testing.assert_allclose(weights, theirs[0].numpy(), atol=1e-6, rtol=0)
    prompt = ids[:, :4]
    with torch.no_grad():
        start = torch.tensor(prompt)
        greedy = reference.generate(start, attention_mask=torch.ones_like(start), max_new_tokens=10,
                                    min_new_tokens=10, do_sample=False, pad_token_id=0)
    cached = model.generate(prompt, 10, temperature=0)  # the KV cache with RoPE and grouped-query heads
    np.testing.assert_array_equal(cached, greedy.numpy())
    np.testing.assert_array_equal(model.generate(prompt, 10, temperature=0, use_cache=False), cached)


def test_llama_float64_and_tied_head(tmp_path):
    reference = random_llama(dtype=torch.float64, tie_word_embeddings=True)
    reference.save_pretrained(tmp_path)
    model = hf.load_pretrained(tmp_path)
    assert model.tok_emb.weight.dtype == np.float64 and model.head.weight is model.tok_emb.weight
    ids = np.random.default_rng(1).integers(0, VOCAB, (1, T))
    with torch.no_grad():
        expected = reference(torch.tensor(ids)).logits.numpy()
    # Hugging Face's RMSNorm computes in float32 whatever the model's dtype: float32 agreement.
    np.testing.assert_allclose(model(ids)[0].data, expected, atol=1e-5, rtol=0)


def test_scaled_rope_is_refused(tmp_path):
    reference = random_llama()
    reference.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["rope_parameters"] = {"rope_type": "llama3", "rope_theta": 500.0, "factor": 8.0}
    config.pop("rope_scaling", None)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="rope_type 'llama3' is not supported"):
        hf.load_pretrained(tmp_path)


def test_llama_save_pretrained_round_trips_through_transformers(tmp_path):
    pytest.importorskip("safetensors")
    reference = random_llama()
    reference.save_pretrained(tmp_path / "in")
    model = hf.load_pretrained(tmp_path / "in")
    hf.save_pretrained(model, tmp_path / "out")
    again = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "out").eval()
    ids = np.random.default_rng(2).integers(0, VOCAB, (2, T))
    with torch.no_grad():
        np.testing.assert_allclose(again(torch.tensor(ids)).logits.numpy(),
                                   reference(torch.tensor(ids)).logits.numpy(), atol=1e-6, rtol=0)
