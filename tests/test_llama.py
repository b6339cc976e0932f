"""The modern block: TransformerConfig.llama reproduces Hugging Face's LlamaForCausalLM (logits
and gradients, with grouped-query heads), every new option trains and is gradchecked, and a
Llama-style model learns the sort task."""
import numpy as np
import pytest

import minigrad
from transformer import TransformerConfig, TransformerLM
from transformer.block import FeedForward, SwiGLUFeedForward, TransformerBlock


def hf_llama(config):
    """A random LlamaForCausalLM of the same sizes, in float64, and the name map to ours."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    hf_config = transformers.LlamaConfig(
        vocab_size=config.vocab_size, hidden_size=config.d_model, intermediate_size=config.ff_dim,
        num_hidden_layers=config.n_layers, num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_kv_heads or config.n_heads, max_position_embeddings=config.max_len,
        rms_norm_eps=config.layer_norm_eps, rope_theta=config.rope_theta, tie_word_embeddings=False,
        attention_bias=False, mlp_bias=False)
    if getattr(hf_config, "rope_parameters", None) is not None:  # transformers >= 5 keeps it here
        hf_config.rope_parameters["rope_theta"] = config.rope_theta
    hf_config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(hf_config).double().eval()
    with torch.no_grad():  # norms away from 1, so that their weights matter
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.3 * torch.randn_like(p))
    names = {"model.embed_tokens.weight": "tok_emb.weight", "model.norm.weight": "norm.weight",
             "lm_head.weight": "head.weight"}
    for i in range(config.n_layers):
        ours, theirs = f"blocks.{i}.", f"model.layers.{i}."
        names.update({theirs + "input_layernorm.weight": ours + "norm1.weight",
                      theirs + "post_attention_layernorm.weight": ours + "norm2.weight"})
        for proj in ("q", "k", "v"):
            names[f"{theirs}self_attn.{proj}_proj.weight"] = f"{ours}attn.{proj}_proj.weight"
        names[theirs + "self_attn.o_proj.weight"] = ours + "attn.out_proj.weight"
        for proj in ("gate", "up", "down"):
            names[f"{theirs}mlp.{proj}_proj.weight"] = f"{ours}ffn.{proj}_proj.weight"
    return model, names


@pytest.mark.parametrize("n_kv_heads", [None, 2, 1], ids=["mha", "gqa", "mqa"])
def test_llama_preset_matches_hugging_face(n_kv_heads):
    config = TransformerConfig.llama(vocab_size=23, max_len=16, d_model=32, n_heads=4, n_layers=2,
                                     n_kv_heads=n_kv_heads, rope_theta=500.0)
    reference, names = hf_llama(config)
    torch = pytest.importorskip("torch")
    model = TransformerLM(config).to(np.float64)
    hf_state = reference.state_dict()
    assert set(names.values()) == set(model.state_dict())  # the same weights, no more, no fewer
    model.load_state_dict({ours: hf_state[theirs].numpy() for theirs, ours in names.items()})
    ids = np.random.default_rng(0).integers(0, 23, (2, 11))
    logits, loss = model(ids, ids)
    out = reference(torch.from_numpy(ids), labels=torch.from_numpy(ids))
    # Hugging Face's RMSNorm computes in float32, so agreement is to float32 precision.
    np.testing.assert_allclose(logits.data, out.logits.detach().numpy(), rtol=1e-5, atol=1e-5)
    loss.backward()
    # HF shifts the labels by one; compare gradients through the same logits instead.
    reference.zero_grad()
    torch_logits = reference(torch.from_numpy(ids)).logits
    flat_ids = torch.from_numpy(ids).reshape(-1)
    torch.nn.functional.cross_entropy(torch_logits.reshape(-1, 23), flat_ids).backward()
    grads = dict(reference.named_parameters())
    for theirs, ours in names.items():
        ours_grad = dict(model.named_parameters())[ours].grad.data
        np.testing.assert_allclose(ours_grad, grads[theirs].grad.numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=ours)


def test_llama_preset_layout():
    c = TransformerConfig.llama(vocab_size=10, max_len=8, d_model=48, n_heads=4, n_kv_heads=2)
    layout = (c.norm_first, c.norm, c.pos_encoding, c.activation, c.bias)
    assert layout == (True, "rmsnorm", "rope", "swiglu", False)
    assert c.ff_dim == 128  # 8/3 * 48 = 128, a multiple of 8
    assert TransformerConfig.llama(vocab_size=10, max_len=8, d_model=64, n_heads=4).ff_dim == 176
    assert TransformerConfig.llama(vocab_size=10, max_len=8, d_ff=100).ff_dim == 100
    model = TransformerLM(c)
    assert not hasattr(model, "pos_emb") and not hasattr(model, "pos_table")
    assert all(p.ndim == 2 or "norm" in name for name, p in model.named_parameters())  # no biases
    block = model.blocks[0]
    assert isinstance(block.ffn, SwiGLUFeedForward) and type(block.norm1).__name__ == "RMSNorm"
    assert block.attn.rotary is not None and block.attn.n_kv_heads == 2


@pytest.mark.parametrize("activation", ["gelu", "gelu_tanh", "relu", "silu", "swiglu"])
@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm"])
def test_every_activation_and_norm_gradchecks(activation, norm):
    minigrad.manual_seed(0)
    block = TransformerBlock(8, 2, 12, norm_first=norm == "rmsnorm", activation=activation, norm=norm,
                             n_kv_heads=1, rope_theta=10000.0, max_len=4).to(np.float64)
    x = minigrad.tensor(np.random.default_rng(1).standard_normal((2, 4, 8)), requires_grad=True)
    params = list(block.parameters())
    assert minigrad.gradcheck(lambda x, *_: block(x, causal=True), [x, *params])


def test_feed_forward_activations_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal((3, 6))
    expected = {"gelu": lambda t: torch.nn.functional.gelu(t), "relu": torch.relu,
                "gelu_tanh": lambda t: torch.nn.functional.gelu(t, approximate="tanh"),
                "silu": torch.nn.functional.silu}
    for activation, act in expected.items():
        ffn = FeedForward(6, 10, activation=activation).to(np.float64)
        w1, b1, w2, b2 = (torch.from_numpy(p.data) for p in ffn.parameters())
        reference = act(torch.from_numpy(x) @ w1.T + b1) @ w2.T + b2
        np.testing.assert_allclose(ffn(minigrad.tensor(x)).data, reference.numpy(), rtol=1e-12, atol=1e-14)
    swiglu = SwiGLUFeedForward(6, 10).to(np.float64)
    gate, up, down = (torch.from_numpy(p.data) for p in swiglu.parameters())
    t = torch.from_numpy(x)
    reference = (torch.nn.functional.silu(t @ gate.T) * (t @ up.T)) @ down.T
    np.testing.assert_allclose(swiglu(minigrad.tensor(x)).data, reference.numpy(), rtol=1e-12, atol=1e-14)


def test_modern_config_errors():
    base = dict(vocab_size=10, max_len=8, d_model=16, n_heads=4)
    with pytest.raises(ValueError, match="norm='batchnorm' must be one of"):
        TransformerConfig(**base, norm="batchnorm")
    with pytest.raises(ValueError, match="activation='swish' must be one of"):
        TransformerConfig(**base, activation="swish")
    with pytest.raises(ValueError, match="n_heads=4 must be a multiple of n_kv_heads=3"):
        TransformerConfig(**base, n_kv_heads=3)
    with pytest.raises(ValueError, match="shared_qk needs n_kv_heads = n_heads"):
        TransformerConfig(**base, n_kv_heads=2, shared_qk=True)
    with pytest.raises(ValueError, match="head size must be even"):
        TransformerConfig(**base, head_dim=3, pos_encoding="rope")
    with pytest.raises(ValueError, match="rope_theta=1.0 must be greater than 1"):
        TransformerConfig(**base, rope_theta=1.0)


def test_modern_model_saves_and_loads(tmp_path):
    config = TransformerConfig.llama(vocab_size=9, max_len=6, d_model=16, n_heads=4, n_kv_heads=2,
                                     rope_theta=321.0)
    minigrad.manual_seed(0)
    model = TransformerLM(config)
    model.save(tmp_path / "llama.npz")
    loaded = TransformerLM.load(tmp_path / "llama.npz")
    assert loaded.config == config
    ids = np.arange(12).reshape(2, 6) % 9
    np.testing.assert_array_equal(loaded(ids)[0].data, model(ids)[0].data)


def test_rope_model_generates_with_positions_beyond_none():
    model = TransformerLM(TransformerConfig.llama(vocab_size=7, max_len=5, d_model=8, n_heads=2))
    out = model.generate(np.array([[1, 2]]), max_new_tokens=6, temperature=0)
    assert out.shape == (1, 8)  # the model sees at most the last max_len tokens


def test_llama_style_model_learns_sort():
    """Pre-RMSNorm, RoPE, SwiGLU, grouped-query heads, no biases: >= 99% exact match on
    held-out 6-digit sorts (~15 s on one core)."""
    from transformer.tasks import make_task
    from transformer.train import TrainConfig, train

    task = make_task("sort", length=6, n_eval=500)
    minigrad.manual_seed(0)
    model = TransformerLM(TransformerConfig.llama(vocab_size=task.vocab.size, max_len=task.block_size,
                                                  d_model=32, n_heads=4, n_layers=2, n_kv_heads=2))
    history = train(model, task, TrainConfig(steps=500, batch_size=64, lr=1e-2, warmup_steps=20,
                                             eval_interval=500), log=None)
    assert history.accuracy >= 0.99


def test_the_graph_renderer_names_the_modern_parts():
    from minigrad.viz import draw_graph

    model = TransformerLM(TransformerConfig.llama(vocab_size=7, max_len=5, d_model=8, n_heads=2, n_layers=1,
                                                  n_kv_heads=1))
    _, loss = model(np.array([[1, 2, 3]]), np.array([[1, 2, 3]]))
    source = draw_graph(loss, model).source
    for name in ("RmsNorm", "Silu", "ScaledDotProductAttention", "blocks.0.attn.rotary", "gate_proj",
                 "up_proj"):
        assert name in source, name
