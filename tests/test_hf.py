"""transformer.hf against Hugging Face's transformers: random GPT-2 models built from small
configs (no weights are downloaded), their LayerNorm and bias parameters perturbed so that
every piece matters, saved with save_pretrained and loaded back by minigrad."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hf_generation import check_left_padded_generation

from transformer import hf
from transformer.viz import model_attention

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB, T = 53, 9


def random_gpt2(dtype: torch.dtype = torch.float32, **overrides):
    """A random GPT2LMHeadModel in eval mode with eager attention, every LayerNorm and bias
    moved away from its initial value."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=VOCAB, n_positions=16, n_embd=24, n_layer=2, n_head=3,
                                     attn_implementation="eager", **overrides)
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ln_" in name or name.endswith("bias"):
                p.add_(0.3 * torch.randn_like(p))
    return model.to(dtype)


@pytest.fixture(scope="module")
def gpt2_folders(tmp_path_factory):
    """(HF model, folder) per dtype name."""
    out = {}
    for name, dtype in (("float32", torch.float32), ("float64", torch.float64)):
        model = random_gpt2(dtype)
        folder = tmp_path_factory.mktemp(f"gpt2-{name}")
        model.save_pretrained(folder)
        out[name] = (model, folder)
    return out


def ids_batch(B: int = 2, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, (B, T))


@pytest.mark.parametrize("dtype,tol", [("float32", 1e-5), ("float64", 1e-10)])
def test_gpt2_logits_equal_hugging_face(gpt2_folders, dtype, tol):
    reference, folder = gpt2_folders[dtype]
    model = hf.load_pretrained(folder)
    assert model.tok_emb.weight.dtype == np.dtype(dtype)  # dtype=None keeps the file's
    assert model.head.weight is model.tok_emb.weight and model.head.bias is None
    ids = ids_batch()
    logits, loss = model(ids)
    assert loss is None and logits.dtype == np.dtype(dtype)
    with torch.no_grad():
        expected = reference(torch.tensor(ids)).logits.numpy()
    np.testing.assert_allclose(logits.data, expected, atol=tol, rtol=0)


@pytest.mark.parametrize("dtype,tol", [("float32", 1e-5), ("float64", 1e-10)])
def test_gpt2_padding_equal_hugging_face(gpt2_folders, dtype, tol):
    reference, folder = gpt2_folders[dtype]
    model = hf.load_pretrained(folder)
    ids = ids_batch()
    lengths = np.array([T, 5])
    attention_mask = np.arange(T)[None] < lengths[:, None]  # Hugging Face: 1 = a real token
    logits, _ = model(ids, key_padding_mask=~attention_mask)  # minigrad: True = padding
    with torch.no_grad():
        expected = reference(torch.tensor(ids), attention_mask=torch.tensor(attention_mask.astype(np.int64)))
    np.testing.assert_allclose(logits.data[attention_mask], expected.logits.numpy()[attention_mask],
                               atol=tol, rtol=0)


def test_gpt2_attention_weights_equal_output_attentions(gpt2_folders):
    reference, folder = gpt2_folders["float64"]
    model = hf.load_pretrained(folder)
    ids = ids_batch(1)
    ours = model_attention(model, ids)
    with torch.no_grad():
        theirs = reference(torch.tensor(ids), output_attentions=True).attentions
    assert [name for name, _ in ours] == ["blocks.0.attn", "blocks.1.attn"]
    for (_, weights), expected in zip(ours, theirs):
        np.testing.assert_allclose(weights, expected[0].numpy(), atol=1e-12, rtol=0)


def test_gpt2_gradients_equal_pytorch_including_the_tied_embedding(gpt2_folders):
    reference, folder = gpt2_folders["float64"]
    model = hf.load_pretrained(folder)
    ids = ids_batch(seed=2)
    targets = np.roll(ids, -1, axis=1)
    logits, loss = model(ids, targets)
    loss.backward()
    reference.zero_grad()
    expected_logits = reference(torch.tensor(ids)).logits
    torch_loss = torch.nn.functional.cross_entropy(expected_logits.reshape(-1, VOCAB),
                                                   torch.tensor(targets).reshape(-1))
    torch_loss.backward()
    np.testing.assert_allclose(loss.item(), torch_loss.item(), atol=1e-12, rtol=0)
    grads = hf.gpt2_tensors(model.config, {n: p.grad.data for n, p in model.named_parameters()})
    expected = {name: p.grad.numpy() for name, p in reference.named_parameters()}
    assert set(grads) == set(expected) - {"lm_head.weight"}  # the tied head is wte itself
    for name, grad in grads.items():
        np.testing.assert_allclose(grad, expected[name], atol=1e-10, rtol=0, err_msg=name)


def test_gpt2_untied_head_gelu_and_sharded_weights(tmp_path):
    reference = random_gpt2(torch.float64, tie_word_embeddings=False, activation_function="gelu",
                            n_inner=40, layer_norm_epsilon=1e-3)
    with torch.no_grad():
        reference.lm_head.weight.add_(0.1)  # untied: differs from wte
    reference.save_pretrained(tmp_path, max_shard_size="10KB")
    assert (tmp_path / hf.INDEX_FILE).is_file() and not (tmp_path / hf.WEIGHTS_FILE).exists()
    model = hf.load_pretrained(tmp_path)
    assert model.head.weight is not model.tok_emb.weight and model.config.activation == "gelu"
    ids = ids_batch()
    with torch.no_grad():
        expected = reference(torch.tensor(ids)).logits.numpy()
    np.testing.assert_allclose(model(ids)[0].data, expected, atol=1e-10, rtol=0)


@pytest.mark.parametrize("narrow", [torch.bfloat16, torch.float16])
def test_narrow_float_files_become_float32_with_a_warning(tmp_path, narrow):
    reference = random_gpt2().to(narrow)
    reference.save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="converted to float32"):
        model = hf.load_pretrained(tmp_path)
    assert model.tok_emb.weight.dtype == np.float32
    ids = ids_batch()
    with torch.no_grad():
        expected = reference.float()(torch.tensor(ids)).logits.numpy()  # the same weights, widened
    np.testing.assert_allclose(model(ids)[0].data, expected, atol=1e-5, rtol=0)


def test_loading_draws_no_initial_values(gpt2_folders):
    import minigrad
    minigrad.manual_seed(7)
    hf.load_pretrained(gpt2_folders["float32"][1])  # built by nn.skip_init: nothing drawn
    after = minigrad.randn(4).data
    minigrad.manual_seed(7)
    np.testing.assert_array_equal(minigrad.randn(4).data, after)


def test_dtype_argument_casts(gpt2_folders):
    model = hf.load_pretrained(gpt2_folders["float32"][1], dtype="float64")
    assert model.tok_emb.weight.dtype == np.float64
    with pytest.raises(TypeError, match="float32 or float64"):
        hf.load_pretrained(gpt2_folders["float32"][1], dtype=np.int32)


def test_save_pretrained_round_trips_through_transformers(gpt2_folders, tmp_path):
    pytest.importorskip("safetensors")
    reference, folder = gpt2_folders["float64"]
    model = hf.load_pretrained(folder)
    hf.save_pretrained(model, tmp_path / "out")
    again = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "out", attn_implementation="eager",
                                                         torch_dtype=torch.float64).eval()
    ids = ids_batch()
    with torch.no_grad():
        np.testing.assert_allclose(again(torch.tensor(ids)).logits.numpy(),
                                   reference(torch.tensor(ids)).logits.numpy(), atol=1e-12, rtol=0)
    np.testing.assert_allclose(hf.load_pretrained(tmp_path / "out")(ids)[0].data, model(ids)[0].data,
                               atol=0, rtol=0)


def test_save_pretrained_refuses_a_layout_gpt2_lacks(tmp_path):
    pytest.importorskip("safetensors")
    from transformer import TransformerConfig, TransformerLM
    model = TransformerLM(TransformerConfig(vocab_size=10, max_len=8))  # post-LN, head bias
    with pytest.raises(ValueError, match="norm_first=True"):
        hf.save_pretrained(model, tmp_path)


# ----- bad folders -----------------------------------------------------------------------

def copy_folder(folder, tmp_path):
    for f in folder.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    return tmp_path


def rewrite_weights(path, change):
    """Rewrite a safetensors file's header through `change(header)`, keeping its data."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    change(header)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n:])


def test_folder_without_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        hf.load_pretrained(tmp_path)


def test_unsupported_model_type_lists_the_supported(gpt2_folders, tmp_path):
    folder = copy_folder(gpt2_folders["float32"][1], tmp_path)
    (folder / "config.json").write_text(json.dumps({"model_type": "t5"}))
    with pytest.raises(ValueError, match=r"model_type 't5' .* not supported \(supported: gpt2"):
        hf.load_pretrained(folder)


def test_missing_weight_is_named(gpt2_folders, tmp_path):
    folder = copy_folder(gpt2_folders["float32"][1], tmp_path)
    rewrite_weights(folder / hf.WEIGHTS_FILE, lambda h: h.pop("transformer.h.1.ln_2.bias"))
    with pytest.raises(ValueError, match=r"weight 'transformer.h.1.ln_2.bias' is missing"):
        hf.load_pretrained(folder)


def test_wrong_shape_is_named(gpt2_folders, tmp_path):
    folder = copy_folder(gpt2_folders["float32"][1], tmp_path)

    def reshape(header):
        header["transformer.h.0.mlp.c_fc.weight"]["shape"] = [96, 24]  # transposed
    rewrite_weights(folder / hf.WEIGHTS_FILE, reshape)
    with pytest.raises(ValueError, match=r"'transformer.h.0.mlp.c_fc.weight' has shape \(96, 24\)"):
        hf.load_pretrained(folder)


def test_offsets_outside_the_file_are_refused(gpt2_folders, tmp_path):
    folder = copy_folder(gpt2_folders["float32"][1], tmp_path)

    def stretch(header):
        header["transformer.wte.weight"]["data_offsets"][1] += 10**9
    rewrite_weights(folder / hf.WEIGHTS_FILE, stretch)
    with pytest.raises(ValueError, match=r"'transformer.wte.weight' has data_offsets .* outside"):
        hf.load_pretrained(folder)


def test_config_larger_than_the_file_is_refused_before_allocating(gpt2_folders, tmp_path, monkeypatch):
    folder = copy_folder(gpt2_folders["float32"][1], tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["vocab_size"] = 2**24  # 2**24 x 24 float32 would be 1.5 GiB
    (folder / "config.json").write_text(json.dumps(config))

    def no_build(*args, **kwargs):
        raise AssertionError("built a model")
    monkeypatch.setattr(hf, "TransformerLM", no_build)
    with pytest.raises(ValueError, match="the config needs .* weights but the files hold only"):
        hf.load_pretrained(folder)


def test_import_transformer_needs_no_extra():
    import subprocess
    import sys
    code = ("import sys; sys.modules['safetensors'] = None; sys.modules['tokenizers'] = None; "
            "import transformer, transformer.hf")
    subprocess.run([sys.executable, "-c", code], check=True)



# ----- generation ------------------------------------------------------------------------

def test_greedy_generation_with_and_without_cache_equals_hugging_face(gpt2_folders):
    reference, folder = gpt2_folders["float64"]
    model = hf.load_pretrained(folder)
    prompt = ids_batch(seed=3)[:, :4]
    new = 16 - prompt.shape[1]  # up to n_positions
    cached = model.generate(prompt, new, temperature=0, use_cache=True)
    uncached = model.generate(prompt, new, temperature=0, use_cache=False)
    with torch.no_grad():
        start = torch.tensor(prompt)
        expected = reference.generate(start, attention_mask=torch.ones_like(start), max_new_tokens=new,
                                      min_new_tokens=new, do_sample=False, pad_token_id=0).numpy()
    np.testing.assert_array_equal(cached, expected)
    np.testing.assert_array_equal(uncached, expected)


def test_cached_logits_equal_the_full_forward(gpt2_folders):
    model = hf.load_pretrained(gpt2_folders["float64"][1])
    ids = ids_batch(seed=4)
    full, _ = model(ids)
    caches = model.new_caches()
    steps = [model(ids[:, :3], caches=caches)[0]]  # a prompt, then one token at a time
    steps += [model(ids[:, t:t + 1], caches=caches)[0] for t in range(3, T)]
    np.testing.assert_allclose(np.concatenate([s.data for s in steps], axis=1), full.data, atol=1e-12, rtol=0)
    assert caches[0].length == T
    with pytest.raises(ValueError, match="exceed max_len 16"):
        model(np.zeros((2, 8), dtype=np.int64), caches=caches)


def test_left_padded_batch_generation_equals_hugging_face(gpt2_folders):
    reference, folder = gpt2_folders["float64"]
    model = hf.load_pretrained(folder)
    rows = [ids_batch(1, seed=5)[0, :6], ids_batch(1, seed=6)[0, :3]]
    ids, padding = check_left_padded_generation(model, reference, rows, new=8)
    with pytest.raises(ValueError, match="must fit in max_len 16"):
        model.generate(ids, 11, key_padding_mask=padding)
