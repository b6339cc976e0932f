"""BERT checkpoints through transformer.hf: random BertForMaskedLM / BertForPreTraining /
BertModel from small configs, LayerNorms and biases perturbed, saved with save_pretrained,
loaded as a BertLM and compared with Hugging Face's outputs."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from transformer import hf
from transformer.viz import model_attention

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB, T = 61, 8


def random_bert(cls, dtype=torch.float64, **overrides):
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=24, num_hidden_layers=2,
                                     num_attention_heads=3, intermediate_size=40, max_position_embeddings=16,
                                     type_vocab_size=3,
                                     attn_implementation="eager", **overrides)
    model = cls(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(0.3 * torch.randn_like(p))
    return model.to(dtype)


def inputs(seed=1):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, VOCAB, (2, T))
    types = rng.integers(0, 3, (2, T))
    attention_mask = np.arange(T)[None] < np.array([[T], [5]])  # the second row padded after 5 tokens
    return ids, types, attention_mask


def run_reference(model, ids, types, attention_mask, **kwargs):
    with torch.no_grad():
        return model(torch.tensor(ids), token_type_ids=torch.tensor(types),
                     attention_mask=torch.tensor(attention_mask.astype(np.int64)), **kwargs)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_masked_lm_logits_and_hidden_states_equal_hugging_face(tmp_path, dtype, tol):
    reference = random_bert(transformers.BertForMaskedLM, dtype)
    reference.save_pretrained(tmp_path)
    model = hf.load_pretrained(tmp_path)
    assert model.head.weight is model.tok_emb.weight and model.pooler is None
    ids, types, mask = inputs()
    expected = run_reference(reference, ids, types, mask, output_hidden_states=True)
    logits, loss = model(ids, token_type_ids=types, key_padding_mask=~mask)
    assert loss is None
    np.testing.assert_allclose(logits.data[mask], expected.logits.numpy()[mask], atol=tol, rtol=0)
    hidden = model.encode(ids, types, ~mask)
    np.testing.assert_allclose(hidden.data[mask], expected.hidden_states[-1].numpy()[mask], atol=tol, rtol=0)
    unpadded = run_reference(reference, ids, types, np.ones_like(mask))
    np.testing.assert_allclose(model(ids, types)[0].data, unpadded.logits.numpy(), atol=tol, rtol=0)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_bert_model_hidden_states_and_pooler_equal_hugging_face(tmp_path, dtype, tol):
    reference = random_bert(transformers.BertModel, dtype, layer_norm_eps=1e-3)
    reference.save_pretrained(tmp_path)
    model = hf.load_pretrained(tmp_path)
    assert not model.mlm_head and model.config.layer_norm_eps == 1e-3
    ids, types, mask = inputs()
    expected = run_reference(reference, ids, types, mask)
    hidden = model.encode(ids, token_type_ids=types, key_padding_mask=~mask)
    np.testing.assert_allclose(hidden.data[mask], expected.last_hidden_state.numpy()[mask], atol=tol, rtol=0)
    np.testing.assert_allclose(model.pool(hidden).data, expected.pooler_output.numpy(), atol=tol, rtol=0)
    with pytest.raises(ValueError, match="no masked-LM head"):
        model(ids)


def test_pretraining_checkpoint_attention_and_gradients(tmp_path):
    reference = random_bert(transformers.BertForPreTraining)
    reference.save_pretrained(tmp_path)
    model = hf.load_pretrained(tmp_path)
    assert model.pooler is not None and model.mlm_head
    ids, types, _ = inputs(2)
    ours = model_attention(model, ids[:1])
    with torch.no_grad():
        theirs = reference(torch.tensor(ids[:1]), output_attentions=True).attentions
    assert len(ours) == len(theirs) == 2
    for (_, weights), expected in zip(ours, theirs):
        np.testing.assert_allclose(weights, expected[0].numpy(), atol=1e-12, rtol=0)

    targets = np.where(np.arange(T) % 3 == 0, ids, -100)  # a loss at every third position
    logits, loss = model(ids, types, targets=targets)
    loss.backward()
    reference.zero_grad()
    out = reference(torch.tensor(ids), token_type_ids=torch.tensor(types))
    torch_loss = torch.nn.functional.cross_entropy(out.prediction_logits.reshape(-1, VOCAB),
                                                   torch.tensor(targets).reshape(-1), ignore_index=-100)
    torch_loss.backward()
    np.testing.assert_allclose(loss.item(), torch_loss.item(), atol=1e-12, rtol=0)
    theirs = dict(reference.named_parameters())
    names = {**{o.format(i=i): "bert." + t.format(i=i) for o, t in hf.BERT_NAMES.items() for i in range(2)},
             **hf.BERT_MLM}
    for ours_name, their_name in names.items():
        grad = dict(model.named_parameters())[ours_name].grad
        np.testing.assert_allclose(grad.data, theirs[their_name].grad.numpy(), atol=1e-10, rtol=0,
                                   err_msg=ours_name)  # tok_emb: the embedding and the tied head


def test_bert_token_type_out_of_range(tmp_path):
    random_bert(transformers.BertModel).save_pretrained(tmp_path)
    model = hf.load_pretrained(tmp_path)
    with pytest.raises(IndexError, match=r"token type 3 is outside \[0, 3\)"):
        model.encode(np.zeros((1, 4), dtype=np.int64), np.full((1, 4), 3))


def test_save_pretrained_round_trips_through_transformers(tmp_path):
    pytest.importorskip("safetensors")
    reference = random_bert(transformers.BertForPreTraining)
    reference.save_pretrained(tmp_path / "in")
    model = hf.load_pretrained(tmp_path / "in")
    hf.save_pretrained(model, tmp_path / "out")
    ids, types, mask = inputs(3)
    expected = run_reference(reference, ids, types, mask, output_hidden_states=True)
    masked_lm, info = transformers.BertForMaskedLM.from_pretrained(
        tmp_path / "out", dtype=torch.float64, attn_implementation="eager", output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"]
    logits = run_reference(masked_lm.eval(), ids, types, mask).logits.numpy()
    np.testing.assert_allclose(logits[mask], expected.prediction_logits.numpy()[mask], atol=1e-12, rtol=0)
    encoder = transformers.BertModel.from_pretrained(tmp_path / "out", dtype=torch.float64).eval()
    out = run_reference(encoder, ids, types, mask)  # the pooler travels in the same folder
    np.testing.assert_allclose(out.last_hidden_state.numpy()[mask], expected.hidden_states[-1].numpy()[mask],
                               atol=1e-12, rtol=0)
    np.testing.assert_allclose(out.pooler_output.numpy(), model.pool(model.encode(ids, types, ~mask)).data,
                               atol=1e-12, rtol=0)
    again = hf.load_pretrained(tmp_path / "out")
    np.testing.assert_array_equal(again(ids, types)[0].data, model(ids, types)[0].data)


def test_save_pretrained_of_an_encoder_without_head(tmp_path):
    pytest.importorskip("safetensors")
    reference = random_bert(transformers.BertModel, torch.float32, hidden_act="gelu_new")
    reference.save_pretrained(tmp_path / "in")
    hf.save_pretrained(hf.load_pretrained(tmp_path / "in"), tmp_path / "out")
    again = transformers.AutoModel.from_pretrained(tmp_path / "out").eval()
    assert type(again).__name__ == "BertModel"
    ids, types, mask = inputs(4)
    np.testing.assert_allclose(run_reference(again, ids, types, mask).last_hidden_state.numpy(),
                               run_reference(reference, ids, types, mask).last_hidden_state.numpy(),
                               atol=1e-6, rtol=0)


def test_old_layer_norm_names_gamma_and_beta_load(tmp_path):
    reference = random_bert(transformers.BertForMaskedLM)
    reference.save_pretrained(tmp_path)
    path = tmp_path / hf.WEIGHTS_FILE
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    renamed = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
               for k, v in header.items()}
    assert "bert.embeddings.LayerNorm.gamma" in renamed
    text = json.dumps(renamed).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n:])
    model = hf.load_pretrained(tmp_path)
    ids, types, mask = inputs()
    expected = run_reference(reference, ids, types, mask).logits.numpy()
    np.testing.assert_allclose(model(ids, types, ~mask)[0].data[mask], expected[mask], atol=1e-10, rtol=0)
