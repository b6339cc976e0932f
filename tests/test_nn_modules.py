"""The smaller nn modules and Module features: activations, Identity, Flatten, ModuleDict,
ParameterList, losses, Embedding(padding_idx), buffers, apply, requires_grad_, nn.init.
Modules are gradchecked in float64 and compared with torch.nn where PyTorch is installed."""
import math

import numpy as np
import pytest

import minigrad
from minigrad import nn
from minigrad.nn import init


def leaf(*shape, seed=0, scale=1.0):
    data = scale * np.random.default_rng(seed).standard_normal(shape)
    return minigrad.tensor(data, requires_grad=True)


# ----- activations, Identity, Flatten: gradcheck and PyTorch ------------------------------------------
SIMPLE = [
    ("Tanh", lambda: nn.Tanh(), lambda tnn: tnn.Tanh(), (3, 4)),
    ("Sigmoid", lambda: nn.Sigmoid(), lambda tnn: tnn.Sigmoid(), (3, 4)),
    ("Softmax(dim=0)", lambda: nn.Softmax(dim=0), lambda tnn: tnn.Softmax(dim=0), (3, 4)),
    ("Softmax(dim=-1)", lambda: nn.Softmax(dim=-1), lambda tnn: tnn.Softmax(dim=-1), (2, 3, 4)),
    ("Identity", lambda: nn.Identity(3, unused=True), lambda tnn: tnn.Identity(3, unused=True), (2, 3)),
    ("Flatten", lambda: nn.Flatten(), lambda tnn: tnn.Flatten(), (2, 3, 4)),
    ("Flatten(0,1)", lambda: nn.Flatten(0, 1), lambda tnn: tnn.Flatten(0, 1), (2, 3, 4)),
    ("Flatten(-2,-1)", lambda: nn.Flatten(-2, -1), lambda tnn: tnn.Flatten(-2, -1), (2, 3, 4, 5)),
]


@pytest.mark.parametrize("make, shape", [(m, s) for _, m, _, s in SIMPLE], ids=[n for n, *_ in SIMPLE])
def test_simple_modules_gradcheck(make, shape):
    module = make()
    assert minigrad.gradcheck(lambda x: module(x), [leaf(*shape)])


@pytest.mark.parametrize("make, make_torch, shape", [(m, t, s) for _, m, t, s in SIMPLE],
                         ids=[n for n, *_ in SIMPLE])
def test_simple_modules_match_torch(make, make_torch, shape):
    torch = pytest.importorskip("torch")
    x = leaf(*shape, scale=2.0)
    tx = torch.tensor(x.data, requires_grad=True)
    out, expected = make()(x), make_torch(torch.nn)(tx)
    assert out.shape == tuple(expected.shape) and out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(minigrad.tensor(g))
    expected.backward(torch.from_numpy(g))
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_flatten_rejects_a_start_after_the_end():
    with pytest.raises(ValueError, match="Flatten: start_dim 2 comes after end_dim 1"):
        nn.Flatten(2, 1)(minigrad.randn(2, 3, 4))
    with pytest.raises(IndexError, match="Flatten: dim 3 is out of range"):
        nn.Flatten(3)(minigrad.randn(2, 3))


def test_flatten_of_an_empty_tensor():
    assert nn.Flatten(0, 1)(minigrad.zeros(2, 0, 4)).shape == (0, 4)


# ----- losses -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_loss_matches_torch(reduction):
    torch = pytest.importorskip("torch")
    target = np.array([1, -100, 3, 0])
    x = leaf(4, 5, scale=2.0)
    tx = torch.tensor(x.data, requires_grad=True)
    out = nn.CrossEntropyLoss(reduction=reduction)(x, target)
    expected = torch.nn.CrossEntropyLoss(reduction=reduction)(tx, torch.from_numpy(target))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_cross_entropy_loss_gradcheck_and_options():
    loss = nn.CrossEntropyLoss(ignore_index=2, reduction="sum")
    assert minigrad.gradcheck(lambda x: loss(x, np.array([2, 0, 1])), [leaf(3, 4)])
    assert "ignore_index=2" in repr(loss)
    with pytest.raises(ValueError, match="CrossEntropyLoss: reduction must be one of"):
        nn.CrossEntropyLoss(reduction="avg")


# ----- Embedding(padding_idx) ---------------------------------------------------------------------------
def test_embedding_padding_row_starts_at_zero_and_gets_no_gradient():
    minigrad.manual_seed(0)
    emb = nn.Embedding(5, 3, padding_idx=-2)  # negative counts from the end, as in PyTorch
    assert emb.padding_idx == 3
    np.testing.assert_array_equal(emb.weight.data[3], 0)
    assert np.all(emb.weight.data[[0, 1, 2, 4]] != 0)
    emb(np.array([[3, 1], [3, 3]])).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.data[3], 0)
    np.testing.assert_array_equal(emb.weight.grad.data[1], 1)
    assert "padding_idx=3" in repr(emb)


def test_embedding_padding_matches_torch():
    torch = pytest.importorskip("torch")
    emb = nn.Embedding(6, 4, padding_idx=0).to(np.float64)
    temb = torch.nn.Embedding(6, 4, padding_idx=0, dtype=torch.float64)
    with torch.no_grad():
        temb.weight.copy_(torch.from_numpy(emb.weight.data))
    ids = np.array([[0, 2, 0, 5], [1, 0, 2, 2]])
    g = np.random.default_rng(0).standard_normal((2, 4, 4))
    emb(ids).backward(minigrad.tensor(g))
    temb(torch.from_numpy(ids)).backward(torch.from_numpy(g))
    np.testing.assert_allclose(emb.weight.grad.data, temb.weight.grad.numpy(), rtol=1e-12)


def test_embedding_padding_idx_is_checked():
    with pytest.raises(IndexError, match=r"Embedding: padding_idx 5 is outside \[-5, 5\)"):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(TypeError, match="padding_idx must be an int"):
        nn.Embedding(5, 2, padding_idx=1.0)
    with pytest.raises(IndexError, match="embedding: padding_idx -4 is outside"):
        minigrad.functional.embedding(np.array([0]), minigrad.zeros(3, 2), padding_idx=-4)


# ----- ModuleDict and ParameterList ---------------------------------------------------------------------
def test_module_dict_registers_its_modules_in_order():
    heads = nn.ModuleDict({"cls": nn.Linear(4, 2), "act": nn.Tanh()})
    heads["reg"] = nn.Linear(4, 1)
    assert list(heads) == ["cls", "act", "reg"] and len(heads) == 3 and "act" in heads
    assert [n for n, _ in heads.named_parameters()] == ["cls.weight", "cls.bias", "reg.weight", "reg.bias"]
    replacement = nn.Linear(4, 3)
    heads["cls"] = replacement  # replaced where it was
    assert list(heads.keys()) == ["cls", "act", "reg"] and heads["cls"] is replacement
    assert heads.pop("act").__class__ is nn.Tanh and list(heads) == ["cls", "reg"]
    del heads["reg"]
    assert [k for k, _ in heads.items()] == ["cls"] and list(heads.values()) == [replacement]
    assert set(heads.state_dict()) == {"cls.weight", "cls.bias"}


def test_module_dict_errors():
    heads = nn.ModuleDict([("a", nn.Identity())])
    with pytest.raises(KeyError, match=r"no module named 'b' \(keys: \['a'\]\)"):
        heads["b"]
    with pytest.raises(KeyError, match="without '.'"):
        heads["x.y"] = nn.Identity()
    with pytest.raises(TypeError, match="values must be Modules"):
        heads["c"] = 3


def test_module_dict_in_a_model_names_parameters_and_scopes():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = nn.ModuleDict({"left": nn.Linear(2, 2)})

        def forward(self, x):
            return self.heads["left"](x)

    model = Model()
    y = model(minigrad.randn(3, 2))
    assert y.grad_fn.scope == "heads.left"
    assert dict(model.named_parameters())["heads.left.weight"] is model.heads.left.weight


def test_parameter_list():
    params = nn.ParameterList([np.ones(2, dtype=np.float32), nn.Parameter(np.zeros(3, dtype=np.float32))])
    params.append(minigrad.tensor([1.0]))
    assert len(params) == 3 and all(isinstance(p, nn.Parameter) for p in params)
    assert [n for n, _ in params.named_parameters()] == ["0", "1", "2"]
    params[0] = np.full(4, 2.0, dtype=np.float32)
    assert params[0].shape == (4,) and params[-1].shape == (1,)
    assert [p.shape for p in params] == [(4,), (3,), (1,)]
    with pytest.raises(IndexError, match="ParameterList: index 3 is out of range for 3 parameters"):
        params[3]

    class Mix(nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = nn.ParameterList([np.ones(2), np.ones(2)])

        def forward(self, xs):
            return sum((w * x for w, x in zip(self.weights, xs)), minigrad.tensor(np.zeros(2)))

    mix = Mix()
    xs = [leaf(2, seed=1), leaf(2, seed=2)]
    assert minigrad.gradcheck(lambda a, b, *weights: mix([a, b]), xs + list(mix.weights))
    assert set(mix.state_dict()) == {"weights.0", "weights.1"}


# ----- buffers ------------------------------------------------------------------------------------------
class Normalizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.register_buffer("running_mean", minigrad.zeros(3))
        self.register_buffer("count", np.array(0))
        self.register_buffer("table", np.arange(3, dtype=np.float32), persistent=False)
        self.register_buffer("empty", None)

    def forward(self, x):
        return (x - self.running_mean) * self.scale


def test_buffers_are_state_but_not_parameters():
    m = Normalizer()
    assert [n for n, _ in m.named_parameters()] == ["scale"]
    assert [n for n, _ in m.named_buffers()] == ["running_mean", "count", "table"]
    assert list(m.state_dict()) == ["scale", "running_mean", "count"]  # non-persistent left out
    assert not m.running_mean.requires_grad and m.empty is None
    m.running_mean = minigrad.tensor([1.0, 2.0, 3.0])  # assigning replaces the buffer
    assert m.state_dict()["running_mean"].tolist() == [1.0, 2.0, 3.0]
    y = m(minigrad.ones(2, 3, requires_grad=True))
    y.sum().backward()
    assert m.running_mean.grad is None and m.scale.grad is not None


def test_buffers_load_and_move_with_to():
    a, b = Normalizer(), Normalizer()
    a.running_mean.data[:] = [4.0, 5.0, 6.0]
    a.count.data[...] = 7
    b.load_state_dict(a.state_dict())
    assert b.running_mean.data.tolist() == [4.0, 5.0, 6.0] and int(b.count.data) == 7
    buffer = b.running_mean
    b.to(np.float64)
    assert b.running_mean is buffer and buffer.dtype == np.float64 and b.table.dtype == np.float64
    assert b.count.dtype == a.count.dtype  # integer buffers keep their dtype
    with pytest.raises(RuntimeError, match="missing keys: running_mean"):
        Normalizer().load_state_dict({"scale": np.ones(3), "count": np.array(0)})
    with pytest.raises(RuntimeError, match="running_mean: expected shape"):
        Normalizer().load_state_dict({"scale": np.ones(3), "count": np.array(0), "running_mean": np.ones(2)})


def test_buffers_of_submodules_have_qualified_names():
    outer = nn.Sequential(Normalizer(), nn.Identity())
    assert [n for n, _ in outer.named_buffers()] == ["0.running_mean", "0.count", "0.table"]
    assert len(list(outer.buffers())) == 3


def test_register_buffer_errors():
    m = Normalizer()
    with pytest.raises(KeyError, match="attribute 'scale' already exists"):
        m.register_buffer("scale", np.ones(3))
    with pytest.raises(KeyError, match="without '.'"):
        m.register_buffer("a.b", np.ones(3))
    with pytest.raises(TypeError, match="buffer 'x' must be a Tensor, a numpy array or None"):
        m.register_buffer("x", [1, 2])
    with pytest.raises(TypeError, match="cannot be a Parameter"):
        m.register_buffer("y", nn.Parameter(np.ones(1)))
    del m.table
    assert [n for n, _ in m.named_buffers()] == ["running_mean", "count"]


def test_buffers_match_torch_state_dict_keys():
    torch = pytest.importorskip("torch")

    class TorchNormalizer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(3))
            self.register_buffer("running_mean", torch.zeros(3))
            self.register_buffer("count", torch.tensor(0))
            self.register_buffer("table", torch.arange(3.0), persistent=False)
            self.register_buffer("empty", None)

    assert list(Normalizer().state_dict()) == list(TorchNormalizer().state_dict())
    assert [n for n, _ in Normalizer().named_buffers()] == [n for n, _ in TorchNormalizer().named_buffers()]


# ----- apply and requires_grad_ -------------------------------------------------------------------------
def test_apply_visits_children_before_parents_like_torch():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Tanh(), nn.Linear(2, 1)))
    seen = []
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen == ["Linear", "Tanh", "Linear", "Sequential", "Sequential"]
    torch = pytest.importorskip("torch")
    tmodel = torch.nn.Sequential(torch.nn.Linear(2, 2),
                                 torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Linear(2, 1)))
    theirs = []
    tmodel.apply(lambda m: theirs.append(type(m).__name__))
    assert seen == theirs


def test_apply_runs_an_initializer_over_a_model():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))

    def init_weights(m):
        if isinstance(m, nn.Linear):
            init.ones_(m.weight)
            init.zeros_(m.bias)

    model.apply(init_weights)
    assert all(np.all(m.weight.data == 1) and np.all(m.bias.data == 0) for m in (model[0], model[2]))


def test_requires_grad_freezes_parameters():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    assert model[0].requires_grad_(False) is model[0]
    model(minigrad.randn(4, 2)).sum().backward()
    assert model[0].weight.grad is None and model[1].weight.grad is not None
    model.requires_grad_()
    assert all(p.requires_grad for p in model.parameters())


# ----- nn.init ------------------------------------------------------------------------------------------
def test_init_fills_in_place_keeping_dtype_and_identity():
    w = nn.Parameter(np.empty((300, 200), dtype=np.float32))
    data = w.data
    for fn in (init.zeros_, init.ones_, init.normal_, init.xavier_uniform_, init.kaiming_uniform_):
        assert fn(w) is w and w.data is data and w.dtype == np.float32


def test_init_distributions_have_the_documented_bounds_and_moments():
    g = np.random.default_rng(0)
    w = minigrad.zeros(400, 250)
    init.normal_(w, mean=1.0, std=0.5, generator=g)
    assert abs(w.data.mean() - 1.0) < 0.01 and abs(w.data.std() - 0.5) < 0.01
    init.xavier_uniform_(w, gain=2.0, generator=g)
    bound = 2.0 * math.sqrt(6.0 / (400 + 250))
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.99 * bound
    conv = minigrad.zeros(8, 4, 3, 3)  # fan_in = 4 * 9 = 36, fan_out = 8 * 9 = 72
    init.kaiming_uniform_(conv, a=math.sqrt(5), generator=g)
    assert np.abs(conv.data).max() <= 1.0 / 6.0 and np.abs(conv.data).max() > 0.95 / 6.0
    init.kaiming_uniform_(conv, mode="fan_out", nonlinearity="relu", generator=g)
    assert np.abs(conv.data).max() <= math.sqrt(2.0) * math.sqrt(3.0 / 72)


def test_init_uses_minigrad_generator():
    a, b = minigrad.zeros(3, 4), minigrad.zeros(3, 4)
    minigrad.manual_seed(5)
    init.xavier_uniform_(a)
    minigrad.manual_seed(5)
    init.xavier_uniform_(b)
    np.testing.assert_array_equal(a.data, b.data)


def test_init_gains_match_torch():
    torch = pytest.importorskip("torch")
    for name, param in [("linear", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
                        ("leaky_relu", 0.2), ("sigmoid", None), ("selu", None)]:
        assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


def test_init_errors():
    with pytest.raises(ValueError, match="xavier_uniform_: fan in and fan out need a tensor of 2 or more"):
        init.xavier_uniform_(minigrad.zeros(3))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_uniform_(minigrad.zeros(3, 3), mode="both")
    with pytest.raises(ValueError, match="unknown nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(TypeError, match="zeros_: expected a Tensor"):
        init.zeros_(np.ones(3))


# ----- RMSNorm, SiLU, MSELoss, CrossEntropyLoss(label_smoothing) ----------------------------------------
MODERN = [
    ("RMSNorm(5)", lambda: nn.RMSNorm(5), lambda tnn: tnn.RMSNorm(5), (3, 5)),
    ("RMSNorm((3,4),eps)", lambda: nn.RMSNorm((3, 4), eps=1e-3), lambda tnn: tnn.RMSNorm((3, 4), eps=1e-3),
     (2, 3, 4)),
    ("RMSNorm(no-affine)", lambda: nn.RMSNorm(4, elementwise_affine=False),
     lambda tnn: tnn.RMSNorm(4, elementwise_affine=False), (2, 4)),
    ("SiLU", lambda: nn.SiLU(), lambda tnn: tnn.SiLU(), (3, 4)),
]


@pytest.mark.parametrize("make, make_torch, shape", [(m, t, s) for _, m, t, s in MODERN],
                         ids=[n for n, *_ in MODERN])
def test_modern_modules_gradcheck_and_match_torch(make, make_torch, shape):
    module = make().to(np.float64)
    params = list(module.parameters())
    for p in params:  # weights other than ones, so that the weight's gradient matters
        p.data[...] = np.random.default_rng(7).standard_normal(p.shape)
    x = leaf(*shape)
    assert minigrad.gradcheck(lambda x, *_: module(x), [x, *params])
    torch = pytest.importorskip("torch")
    reference = make_torch(torch.nn).double()
    with torch.no_grad():
        for p, tp in zip(params, reference.parameters()):
            tp.copy_(torch.from_numpy(p.data))
    tx = torch.tensor(x.data, requires_grad=True)
    out, expected = module(x), reference(tx)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(out.shape)
    module.zero_grad()  # gradcheck's own backward left gradients behind
    x.grad = None
    out.backward(minigrad.tensor(g))
    expected.backward(torch.from_numpy(g))
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for p, tp in zip(params, reference.parameters()):
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_rms_norm_defaults_and_repr():
    norm = nn.RMSNorm(8)
    assert norm.weight.dtype == np.float32 and np.all(norm.weight.data == 1) and norm.eps is None
    assert repr(norm) == "RMSNorm((8,), eps=None, elementwise_affine=True)"


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_gradcheck_and_torch(reduction):
    loss = nn.MSELoss(reduction)
    x, y = leaf(3, 4), leaf(3, 4, seed=1)
    assert minigrad.gradcheck(loss, [x, y])
    torch = pytest.importorskip("torch")
    tx, ty = torch.tensor(x.data, requires_grad=True), torch.tensor(y.data, requires_grad=True)
    out, expected = loss(x, y), torch.nn.MSELoss(reduction=reduction)(tx, ty)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    x.grad = y.grad = None  # gradcheck's own backward left gradients behind
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(y.grad.data, ty.grad.numpy(), rtol=1e-12)


def test_mse_loss_refuses_broadcasting():
    with pytest.raises(ValueError, match=r"MSELoss: input of shape \(3, 1\) and target of shape \(3,\)"):
        nn.MSELoss()(minigrad.zeros(3, 1), np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match="MSELoss: reduction must be one of"):
        nn.MSELoss("max")


def test_cross_entropy_loss_label_smoothing_matches_torch():
    torch = pytest.importorskip("torch")
    target = np.array([1, 0, 3])
    x = leaf(3, 4, scale=2.0)
    tx = torch.tensor(x.data, requires_grad=True)
    out = nn.CrossEntropyLoss(label_smoothing=0.1)(x, target)
    expected = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(tx, torch.from_numpy(target))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    out.backward()
    expected.backward()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-15)
