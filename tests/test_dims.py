"""One rule for `dim` arguments (minigrad.dims), checked through the ops that use it and
against PyTorch: negative dims count from the end, a 0-d tensor accepts 0 and -1."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.dims import normalize_dim, normalize_dims


def test_the_rule() -> None:
    assert normalize_dim(-1, 3, "op") == 2
    assert normalize_dim(0, 0, "op") == 0 and normalize_dim(-1, 0, "op") == 0
    assert normalize_dims((-1, 0), 3, "op") == (0, 2) and normalize_dims(None, 3, "op") is None
    assert normalize_dims(0, 0, "op") is None  # a 0-d tensor's only dim is all of it
    expected = r"op: dim 3 is out of range for 3 dimensions \(expected to be in range of \[-3, 2\]\)"
    with pytest.raises(IndexError, match=expected):
        normalize_dim(3, 3, "op")
    with pytest.raises(IndexError, match=r"in range of \[-1, 0\]"):
        normalize_dim(1, 0, "op")
    with pytest.raises(ValueError, match="repeats a dimension"):
        normalize_dims((1, -2), 3, "op")
    with pytest.raises(TypeError, match="dim must be an int"):
        normalize_dim(1.0, 3, "op")


ZERO_D_OPS = {
    "sum": lambda t: t.sum(0), "mean": lambda t: t.mean(-1), "softmax": lambda t: t.softmax(0),
    "log_softmax": lambda t: t.log_softmax(-1), "transpose": lambda t: t.transpose(0, -1),
    "unsqueeze": lambda t: t.unsqueeze(-1), "squeeze": lambda t: t.squeeze(0),
    "permute": lambda t: t.permute(()),
}


@pytest.mark.parametrize("name", sorted(ZERO_D_OPS))
def test_zero_d_tensors_follow_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    fn = ZERO_D_OPS[name]
    ours = fn(mg.tensor(np.float64(1.5), requires_grad=True))
    theirs = fn(torch.tensor(1.5, dtype=torch.float64, requires_grad=True))
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy())


@pytest.mark.parametrize("name,fn", [
    ("sum", lambda t: t.sum(3)), ("transpose", lambda t: t.transpose(0, -4)),
    ("softmax", lambda t: t.softmax(3)),
    ("unsqueeze", lambda t: t.unsqueeze(5)), ("permute", lambda t: t.permute(0, 1, 3)),
])
def test_out_of_range_dims_are_index_errors_as_in_pytorch(name: str, fn) -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(IndexError):
        fn(torch.zeros(2, 3, 4))
    with pytest.raises(IndexError, match=f"{name}: dim -?\\d is out of range for \\d dimensions"):
        fn(mg.zeros(2, 3, 4))


def test_cat_and_split_refuse_zero_d_tensors_as_pytorch() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        torch.cat([torch.tensor(1.0), torch.tensor(2.0)])
    with pytest.raises(ValueError, match="cat: zero-dimensional tensors cannot be concatenated"):
        mg.cat([mg.tensor(1.0), mg.tensor(2.0)])
    with pytest.raises(ValueError, match="split: expected a tensor with at least one dimension"):
        mg.split(mg.tensor(1.0), 1)
