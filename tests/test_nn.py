"""minigrad.nn: the Module API, module scopes on graph nodes, and the layers (gradchecks in
float64, and against torch.nn where PyTorch is installed)."""
import numpy as np
import pytest

import minigrad
from minigrad import autograd, nn
from minigrad.nn import Parameter


class Attention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.q_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d, bias=False)

    def forward(self, x):
        return self.out_proj(self.q_proj(x).tanh())


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.attn = Attention(d)
        self.norm = nn.LayerNorm(d)

    def forward(self, x):
        return self.norm(x + self.attn(x))


class Model(nn.Module):
    def __init__(self, vocab=7, d=4, n=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d) for _ in range(n))
        self.scale = Parameter(np.ones(d, dtype=np.float32))
        self.head = nn.Linear(d, vocab)
        self.note = "plain attributes are not registered"

    def forward(self, ids):
        x = self.emb(ids) * self.scale
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def _model(seed=0, **kw):
    minigrad.manual_seed(seed)
    return Model(**kw)


BLOCK_NAMES = ["attn.q_proj.weight", "attn.q_proj.bias", "attn.out_proj.weight", "norm.weight", "norm.bias"]
# As in PyTorch: a module's own parameters first, then its children's, depth first.
MODEL_NAMES = (["scale", "emb.weight"] + [f"blocks.{i}.{n}" for i in range(2) for n in BLOCK_NAMES]
               + ["head.weight", "head.bias"])


# ----- registration and traversal ---------------------------------------------------------
def test_named_parameters_order_and_names():
    model = _model()
    assert [name for name, _ in model.named_parameters()] == MODEL_NAMES
    assert list(model.parameters())[1] is model.emb.weight
    assert all(isinstance(p, Parameter) and p.requires_grad for p in model.parameters())
    assert "note" not in dict(model.named_parameters())


def test_modules_and_children():
    model = _model()
    names = [name for name, _ in model.named_modules()]
    assert names == ["", "emb", "blocks", "blocks.0", "blocks.0.attn", "blocks.0.attn.q_proj",
                     "blocks.0.attn.out_proj", "blocks.0.norm", "blocks.1", "blocks.1.attn",
                     "blocks.1.attn.q_proj", "blocks.1.attn.out_proj", "blocks.1.norm", "head"]
    assert list(model.modules())[0] is model
    assert [type(m).__name__ for m in model.children()] == ["Embedding", "ModuleList", "Linear"]
    assert dict(model.named_children())["head"] is model.head


def test_reassignment_and_deletion_update_the_registry():
    layer = nn.Linear(2, 3)
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"] and layer.bias is None
    layer.bias = Parameter(np.zeros(3, dtype=np.float32))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    with pytest.raises(TypeError, match="cannot assign a plain Tensor to parameter 'weight'"):
        layer.weight = minigrad.zeros(3, 2)
    block = Block(2)
    block.attn = "gone"
    assert [n for n, _ in block.named_modules()] == ["", "norm"]
    del block.norm
    assert list(block.parameters()) == []
    with pytest.raises(AttributeError, match="Block has no attribute 'norm'"):
        block.norm  # noqa: B018  (the attribute access is what raises)


def test_assigning_before_init_is_a_clear_error():
    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) before assigning attribute 'fc'"):
        Forgot()


def test_shared_parameters_are_listed_once_but_saved_under_each_name():
    model = _model()
    model.head.weight = model.emb.weight  # weight tying: (vocab, d) both
    assert sum(p is model.emb.weight for p in model.parameters()) == 1
    state = model.state_dict()
    assert "head.weight" in state and "emb.weight" in state
    model.load_state_dict(state)


def test_parameter():
    p = Parameter([[1.0, 2.0]])
    assert p.requires_grad and p.dtype == np.float32 and p.is_leaf
    assert Parameter(np.zeros(2), requires_grad=False).requires_grad is False
    assert repr(p).startswith("Parameter containing:\ntensor(")
    with pytest.raises(TypeError, match="Parameter: data must be floating point, got dtype int64"):
        Parameter(np.arange(3))


# ----- state ------------------------------------------------------------------------------
def test_state_dict_round_trip_and_copies():
    model, other = _model(0), _model(1)
    state = model.state_dict()
    assert list(state) == MODEL_NAMES
    state["head.bias"][...] = 123.0  # a copy: the model is untouched
    assert not np.any(model.head.bias.data == 123.0)
    other.load_state_dict(model.state_dict())
    ids = np.array([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(model(ids).data, other(ids).data)


def test_load_state_dict_casts_to_the_parameter_dtype_in_place():
    model = nn.Linear(2, 3)
    weight_array = model.weight.data
    state = {k: v.astype(np.float64) + 1 for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    assert model.weight.dtype == np.float32 and model.weight.data is weight_array
    np.testing.assert_allclose(model.weight.data, state["weight"], rtol=1e-6)
    model.load_state_dict({"weight": minigrad.ones(3, 2), "bias": minigrad.zeros(3)})
    np.testing.assert_array_equal(model.weight.data, np.ones((3, 2)))


def test_strict_load_names_missing_unexpected_and_misshaped_keys():
    model = _model()
    state = model.state_dict()
    del state["head.bias"]
    state["blocks.2.norm.weight"] = np.ones(4)
    state["emb.weight"] = np.zeros((9, 4))
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    assert "Model" in message
    assert "missing keys: head.bias" in message
    assert "unexpected keys: blocks.2.norm.weight" in message
    assert "emb.weight: expected shape (7, 4), got (9, 4)" in message


def test_non_strict_load_reports_keys_but_still_rejects_shapes():
    model = _model()
    state = model.state_dict()
    state.pop("scale")
    state["extra"] = np.ones(1)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["scale"] and result.unexpected_keys == ["extra"]
    state["head.bias"] = np.zeros(3)
    with pytest.raises(RuntimeError, match=r"head.bias: expected shape \(7,\), got \(3,\)"):
        model.load_state_dict(state, strict=False)


# ----- modes, dtypes, grads, repr ---------------------------------------------------------
def test_train_and_eval_propagate():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.9)))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    x = minigrad.randn(4, 3)
    np.testing.assert_array_equal(model(x).data, model[0](x).data)  # dropout is the identity
    model.train()
    assert all(m.training for m in model.modules())


def test_to_casts_in_place_and_keeps_parameter_objects():
    model = _model()
    params = list(model.parameters())
    model(np.array([[1, 2]])).sum().backward()
    assert model.to(np.float64) is model
    assert [p is q for p, q in zip(params, model.parameters())] == [True] * len(params)
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters())
    assert model(np.array([[1, 2]])).dtype == np.float64
    with pytest.raises(TypeError, match="Module.to: dtype must be floating point, got int32"):
        model.to(np.int32)


def test_zero_grad_sets_none():
    model = _model()
    model(np.array([[0, 1]])).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_repr():
    model = nn.Sequential(nn.Linear(2, 3), nn.GELU(), nn.Dropout(0.1), Block(3), nn.Embedding(5, 2),
                          nn.ReLU())
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): GELU(approximate='none')\n"
        "  (2): Dropout(p=0.1)\n"
        "  (3): Block(\n"
        "    (attn): Attention(\n"
        "      (q_proj): Linear(in_features=3, out_features=3, bias=True)\n"
        "      (out_proj): Linear(in_features=3, out_features=3, bias=False)\n"
        "    )\n"
        "    (norm): LayerNorm((3,), eps=1e-05)\n"
        "  )\n"
        "  (4): Embedding(5, 2)\n"
        "  (5): ReLU()\n"
        ")"
    )


# ----- module scopes ----------------------------------------------------------------------
def _scopes_by_op(out):
    return [(type(node).__name__, node.scope) for node in reversed(autograd.topological_order(out.grad_fn))]


def test_graph_nodes_carry_module_scopes():
    model = _model()
    out = model(np.array([[1, 2, 3]]))
    scopes = {scope for _, scope in _scopes_by_op(out)}
    assert scopes == {"", "emb", "blocks.0", "blocks.0.attn", "blocks.0.attn.q_proj",
                      "blocks.0.attn.out_proj",
                      "blocks.0.norm", "blocks.1", "blocks.1.attn", "blocks.1.attn.q_proj",
                      "blocks.1.attn.out_proj", "blocks.1.norm", "head"}
    ops = _scopes_by_op(out)
    assert ("Tanh", "blocks.1.attn") in ops  # the op in Attention.forward itself
    assert ops[-1][1] == "head"
    assert not autograd.in_module_call()


def test_a_module_called_alone_is_the_root():
    model = _model()
    model(np.array([[1]]))
    block = model.blocks[1]
    out = block(minigrad.randn(1, 4, requires_grad=True))
    assert {scope for _, scope in _scopes_by_op(out)} == {"", "attn", "attn.q_proj", "attn.out_proj", "norm"}


def test_calling_a_module_leaves_its_parameters_untouched():
    # Names come from named_parameters() when asked (the renderer asks at draw time), so a
    # parameter's name never depends on which module was called last.
    model = _model()
    before = {name: dict(vars(p)) for name, p in model.named_parameters()}
    model(np.array([[1, 2]]))
    model.blocks[1](minigrad.randn(1, 4))
    assert {name: dict(vars(p)) for name, p in model.named_parameters()} == before
    assert not hasattr(model.blocks[0].attn.q_proj.weight, "name")
    block = model.blocks[1]
    assert dict(block.named_parameters())["attn.q_proj.weight"] is block.attn.q_proj.weight


def test_evaluating_restores_each_modules_own_mode_also_after_an_error():
    model = _model()
    model.blocks[1].train(False)  # a mixed model: one block already in eval mode
    before = [m.training for m in model.modules()]
    with nn.evaluating(model) as inside:
        assert inside is model and not any(m.training for m in model.modules())
    assert [m.training for m in model.modules()] == before
    with pytest.raises(RuntimeError), nn.evaluating(model):
        raise RuntimeError("boom")
    assert [m.training for m in model.modules()] == before


def test_scope_stack_is_cleaned_up_after_an_error():
    layer = nn.Linear(3, 2)
    with pytest.raises(ValueError):
        layer(minigrad.randn(2, 5))
    assert not autograd.in_module_call()


def test_an_unregistered_helper_module_runs_in_its_callers_scope():
    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(2, 2)
            self.helpers = [nn.ReLU()]  # a plain list: not registered, never named

        def forward(self, x):
            return self.helpers[0](self.inner(x))

    out = nn.Sequential(Outer())(minigrad.randn(1, 2))
    assert ("Relu", "0") in _scopes_by_op(out) and ("Linear", "0.inner") in _scopes_by_op(out)


# ----- containers -------------------------------------------------------------------------
def test_sequential():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c] and seq[0] is a and seq[-1] is c
    assert isinstance(seq[1:], nn.Sequential) and list(seq[1:]) == [b, c]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    x = minigrad.randn(4, 2)
    np.testing.assert_array_equal(seq(x).data, c(b(a(x))).data)
    with pytest.raises(IndexError, match="index 3 is out of range for 3 modules"):
        seq[3]
    with pytest.raises(TypeError, match="items must be Modules, got int"):
        nn.Sequential(a, 3)


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2)])
    layers.append(nn.Linear(2, 3)).extend([nn.ReLU()])
    assert len(layers) == 3 and isinstance(layers[2], nn.ReLU) and len(layers[:2]) == 2
    assert [n for n, _ in layers.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    with pytest.raises(NotImplementedError, match="ModuleList has no forward"):
        layers(minigrad.randn(1, 2))


# ----- layers: initialization and argument checks -----------------------------------------
def test_init_is_reproducible_and_follows_pytorch():
    minigrad.manual_seed(3)
    a = nn.Linear(400, 50)
    minigrad.manual_seed(3)
    b = nn.Linear(400, 50)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert a.weight.shape == (50, 400) and a.bias.shape == (50,) and a.weight.dtype == np.float32
    bound = 1 / np.sqrt(400)
    assert np.abs(a.weight.data).max() <= bound and np.abs(a.weight.data).max() > 0.95 * bound
    assert np.abs(a.bias.data).max() <= bound
    emb = nn.Embedding(1000, 20, dtype=np.float64)
    assert emb.weight.dtype == np.float64 and abs(emb.weight.data.std() - 1) < 0.05
    norm = nn.LayerNorm((2, 3))
    assert norm.normalized_shape == (2, 3)
    np.testing.assert_array_equal(norm.weight.data, np.ones((2, 3)))
    np.testing.assert_array_equal(norm.bias.data, np.zeros((2, 3)))


def test_layer_arguments_are_checked():
    with pytest.raises(ValueError, match="Linear: in_features must be a positive integer, got 0"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="Embedding: embedding_dim must be a positive integer, got 2.5"):
        nn.Embedding(3, 2.5)
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\), got 1.0"):
        nn.Dropout(1.0)
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh', got 'fast'"):
        nn.GELU("fast")


def test_dropout_trains_and_scales():
    minigrad.manual_seed(0)
    drop = nn.Dropout(0.25)
    y = drop(minigrad.ones(10000)).data
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.75], rtol=1e-6)
    assert abs((y == 0).mean() - 0.25) < 0.03


# ----- layers: gradients ------------------------------------------------------------------
def _gradcheck_module(module, *inputs):
    params = list(module.parameters())
    n = len(inputs)
    assert minigrad.gradcheck(lambda *args: module(*args[:n]), list(inputs) + params)


def test_gradcheck_layers_in_float64():
    rng = np.random.default_rng(0)
    x = minigrad.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    _gradcheck_module(nn.Linear(4, 3).to(np.float64), x)
    _gradcheck_module(nn.Linear(4, 2, bias=False).to(np.float64), x)
    norm = nn.LayerNorm(4).to(np.float64)
    norm.weight.data += rng.standard_normal(4)
    norm.bias.data += rng.standard_normal(4)
    _gradcheck_module(norm, x)
    _gradcheck_module(nn.LayerNorm((3, 4), eps=1e-3).to(np.float64), x)
    _gradcheck_module(nn.Embedding(5, 3).to(np.float64), np.array([[0, 4, 4], [2, 1, 0]]))
    _gradcheck_module(nn.GELU(), x)
    _gradcheck_module(nn.GELU("tanh"), x)
    _gradcheck_module(nn.ReLU(), minigrad.tensor(rng.standard_normal((3, 4)) + 0.5, requires_grad=True))
    _gradcheck_module(nn.Dropout(0.3).eval(), x)
    _gradcheck_module(_model(d=4, vocab=5).to(np.float64), np.array([[1, 2, 3]]))


# ----- layers against PyTorch (float64, copied weights) -----------------------------------
def _compare_with_torch(torch, ours, theirs, x, integer_input=False):
    for name, p in ours.named_parameters():
        theirs.get_parameter(name).data = torch.from_numpy(p.data.copy())
    if integer_input:
        y, ty = ours(x), theirs(torch.from_numpy(x))
    else:
        xm = minigrad.tensor(x, requires_grad=True)
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        y, ty = ours(xm), theirs(tx)
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    if not integer_input:
        np.testing.assert_allclose(xm.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.data, theirs.get_parameter(name).grad.numpy(), rtol=1e-10,
                                   atol=1e-12,
                                   err_msg=name)


def test_linear_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 5, 4))
    for bias in (True, False):
        ours = nn.Linear(4, 3, bias=bias, dtype=np.float64)
        _compare_with_torch(torch, ours, torch.nn.Linear(4, 3, bias=bias, dtype=torch.float64), x)


def test_layer_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6)) * 3 + 1
    for shape in (6, (3, 6)):
        ours = nn.LayerNorm(shape, eps=1e-4, dtype=np.float64)
        ours.weight.data += rng.standard_normal(ours.weight.shape)
        ours.bias.data += rng.standard_normal(ours.bias.shape)
        _compare_with_torch(torch, ours, torch.nn.LayerNorm(shape, eps=1e-4, dtype=torch.float64), x)


def test_embedding_matches_torch():
    torch = pytest.importorskip("torch")
    ids = np.array([[0, 3, 3, 9], [1, 0, 2, 3]])
    _compare_with_torch(torch, nn.Embedding(10, 5, dtype=np.float64),
                        torch.nn.Embedding(10, 5, dtype=torch.float64), ids, integer_input=True)


def test_gelu_and_relu_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((3, 7)) * 2
    _compare_with_torch(torch, nn.GELU(), torch.nn.GELU(), x)
    _compare_with_torch(torch, nn.GELU("tanh"), torch.nn.GELU(approximate="tanh"), x)
    _compare_with_torch(torch, nn.ReLU(), torch.nn.ReLU(), x)
