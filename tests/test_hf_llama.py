"""Llama-family checkpoints through transformer.hf: random LlamaForCausalLM, MistralForCausalLM
and Qwen2ForCausalLM from small configs (grouped-query heads, RoPE with a chosen theta, RMSNorm,
Qwen2's query/key/value biases), norms and biases perturbed, saved with save_pretrained, loaded
as a TransformerLM."""
from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
from hf_generation import check_left_padded_generation

from transformer import hf
from transformer.viz import model_attention

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB, T = 37, 9


def random_llama(kind="llama", dtype=torch.float32, **overrides):
    torch.manual_seed(0)
    cls_config, cls_model = {"llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
                             "mistral": (transformers.MistralConfig, transformers.MistralForCausalLM),
                             "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM)}[kind]
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
            if "norm" in name or name.endswith("bias"):
                p.add_(0.3 * torch.randn_like(p))
    return model.to(dtype)


@pytest.mark.parametrize("kind", ["llama", "mistral", "qwen2"])
def test_llama_family_logits_attention_and_generation_equal_hugging_face(tmp_path, kind):
    reference = random_llama(kind)
    reference.save_pretrained(tmp_path)
    model = hf.load_pretrained(tmp_path)
    c = model.config
    layout = (c.norm, c.pos_encoding, c.activation, c.n_kv_heads, c.rope_theta)
    assert layout == ("rmsnorm", "rope", "swiglu", 2, 500.0)
    assert (model.blocks[0].attn.k_proj.bias is not None) == (kind == "qwen2") == c.qkv_bias
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


def exact_float64(monkeypatch, kind="llama"):
    """Hugging Face's RMSNorm and rotary tables compute in float32 whatever the model's dtype
    (and so does its eager attention's softmax: the float64 references use "sdpa"); for a
    float64 comparison, make them compute in the input's dtype (the same formulas)."""
    module = importlib.import_module(f"transformers.models.{kind}.modeling_{kind}")
    prefix = {"llama": "Llama", "mistral": "Mistral", "qwen2": "Qwen2"}[kind]

    def rms_norm(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))

    def rotary(self, x, position_ids):
        dim = 2 * self.inv_freq.shape[0]
        inv_freq = 500.0 ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # random_llama's theta
        angles = position_ids[..., None].to(torch.float64) * inv_freq
        angles = torch.cat((angles, angles), dim=-1)
        return angles.cos().to(x.dtype), angles.sin().to(x.dtype)

    monkeypatch.setattr(getattr(module, f"{prefix}RMSNorm"), "forward", rms_norm)
    monkeypatch.setattr(getattr(module, f"{prefix}RotaryEmbedding"), "forward", rotary)


def their_names(kind, config):
    """TransformerLM parameter name -> the Hugging Face parameter name."""
    table = {**hf.LLAMA_NAMES, **hf.QWEN2_BIASES} if kind == "qwen2" else hf.LLAMA_NAMES
    names = {o.format(i=i): t.format(i=i) for o, t in table.items() for i in range(config.n_layers)}
    if not config.tie_embeddings:
        names["head.weight"] = "lm_head.weight"
    return names


@pytest.mark.parametrize("kind,tied", [("llama", False), ("llama", True), ("qwen2", True)])
def test_float64_logits_padding_and_gradients_equal_pytorch(tmp_path, monkeypatch, kind, tied):
    exact_float64(monkeypatch, kind)
    reference = random_llama(kind, torch.float64, tie_word_embeddings=tied, attn_implementation="sdpa")
    reference.save_pretrained(tmp_path)
    model = hf.load_pretrained(tmp_path)
    assert (model.head.weight is model.tok_emb.weight) == tied
    ids = np.random.default_rng(3).integers(0, VOCAB, (2, T))
    attention_mask = np.arange(T)[None] < np.array([[T], [5]])  # the second row padded on the right
    with torch.no_grad():
        padded = reference(torch.tensor(ids), attention_mask=torch.tensor(attention_mask.astype(np.int64)))
    ours = model(ids, key_padding_mask=~attention_mask)[0].data
    np.testing.assert_allclose(ours[attention_mask], padded.logits.numpy()[attention_mask], atol=1e-10,
                               rtol=0)

    targets = np.roll(ids, -1, axis=1)
    logits, loss = model(ids, targets)
    loss.backward()
    reference.zero_grad()
    torch_logits = reference(torch.tensor(ids)).logits
    np.testing.assert_allclose(logits.data, torch_logits.detach().numpy(), atol=1e-10, rtol=0)
    torch_loss = torch.nn.functional.cross_entropy(torch_logits.reshape(-1, VOCAB),
                                                   torch.tensor(targets).reshape(-1))
    torch_loss.backward()
    np.testing.assert_allclose(loss.item(), torch_loss.item(), atol=1e-12, rtol=0)
    theirs = dict(reference.named_parameters())  # a tied lm_head is embed_tokens itself
    ours = dict(model.named_parameters())
    names = their_names(kind, model.config)
    assert set(names.values()) == set(theirs) and set(names) == set(ours)
    for ours_name, their_name in names.items():
        np.testing.assert_allclose(ours[ours_name].grad.data, theirs[their_name].grad.numpy(), atol=1e-10,
                                   rtol=0, err_msg=ours_name)


def test_left_padded_generation_with_rope_equals_hugging_face(tmp_path, monkeypatch):
    exact_float64(monkeypatch)
    reference = random_llama(dtype=torch.float64, attn_implementation="sdpa")
    reference.save_pretrained(tmp_path)
    model = hf.load_pretrained(tmp_path)
    rng = np.random.default_rng(4)
    rows = [rng.integers(0, VOCAB, 7), rng.integers(0, VOCAB, 3)]
    check_left_padded_generation(model, reference, rows, new=9)


def test_sliding_window_and_other_layer_types_are_refused(tmp_path):
    random_llama("mistral", sliding_window=8).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="sliding_window=8 is not supported"):
        hf.load_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.update(model_type="qwen2", use_sliding_window=False)  # Qwen2's switch turns the window off
    config["layer_types"] = ["full_attention", "sliding_attention"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"layer_types \['full_attention', 'sliding_attention'\]"):
        hf.load_pretrained(tmp_path)


def test_qwen2_save_pretrained_round_trips_through_transformers(tmp_path):
    pytest.importorskip("safetensors")
    reference = random_llama("qwen2")
    reference.save_pretrained(tmp_path / "in")
    model = hf.load_pretrained(tmp_path / "in")
    hf.save_pretrained(model, tmp_path / "out")
    again = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
    assert type(again).__name__ == "Qwen2ForCausalLM"
    ids = np.random.default_rng(5).integers(0, VOCAB, (2, T))
    with torch.no_grad():
        np.testing.assert_allclose(again(torch.tensor(ids)).logits.numpy(),
                                   reference(torch.tensor(ids)).logits.numpy(), atol=1e-6, rtol=0)
