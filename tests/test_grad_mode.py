"""Grad mode: no_grad, enable_grad, set_grad_enabled, inference_mode, generator functions,
and threads (grad mode and module scopes are per thread; accumulation into .grad is safe)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad import autograd, nn, optim


def f64(data, requires_grad=True) -> mg.Tensor:
    return mg.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


# ----- the context managers, against PyTorch ----------------------------------------------------
def _modes(lib) -> list[bool]:
    """Grad mode as seen at each step of a fixed sequence of nested managers."""
    seen = [lib.is_grad_enabled()]
    with lib.no_grad():
        seen.append(lib.is_grad_enabled())
        with lib.enable_grad():
            seen.append(lib.is_grad_enabled())
            with lib.inference_mode():
                seen.append(lib.is_grad_enabled())
            with lib.set_grad_enabled(False):
                seen.append(lib.is_grad_enabled())
            seen.append(lib.is_grad_enabled())
        seen.append(lib.is_grad_enabled())
        with lib.set_grad_enabled(True):
            seen.append(lib.is_grad_enabled())
        with lib.inference_mode(False):
            seen.append(lib.is_grad_enabled())
    seen.append(lib.is_grad_enabled())
    lib.set_grad_enabled(False)  # the function form
    seen.append(lib.is_grad_enabled())
    lib.set_grad_enabled(True)
    seen.append(lib.is_grad_enabled())
    return seen


def test_grad_mode_managers_match_torch() -> None:
    torch = pytest.importorskip("torch")
    ours = _modes(mg)
    assert ours == _modes(torch)
    assert ours == [True, False, True, False, False, True, False, True, True, True, False, True]


def test_enable_grad_records_inside_no_grad() -> None:
    x = f64([1.0, 2.0])
    with mg.no_grad():
        with mg.enable_grad():
            y = x * x
        z = x * x
    assert y.grad_fn is not None and z.grad_fn is None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_managers_as_decorators() -> None:
    x = f64([1.0, 2.0])

    @mg.set_grad_enabled(False)
    def frozen() -> mg.Tensor:
        return x * 2.0

    assert mg.is_grad_enabled()  # decorating did not switch anything off
    assert frozen().grad_fn is None and mg.is_grad_enabled()

    @mg.inference_mode()
    def infer() -> mg.Tensor:
        return x * 2.0

    @mg.no_grad()
    def outer() -> mg.Tensor:
        return recorded()

    @mg.enable_grad()
    def recorded() -> mg.Tensor:
        return x * 2.0

    assert infer().grad_fn is None
    assert outer().grad_fn is not None


def test_no_grad_on_a_generator_function_covers_its_body() -> None:
    torch = pytest.importorskip("torch")

    def make(lib):
        @lib.no_grad()
        def batches(x):
            for i in range(3):
                received = yield x * float(i), lib.is_grad_enabled()
                assert received == i

        return batches

    for lib, x in ((mg, f64([1.0, 2.0])), (torch, torch.tensor([1.0, 2.0], requires_grad=True))):
        gen = make(lib)(x)
        out, mode = next(gen)
        for i in range(3):
            assert lib.is_grad_enabled()  # outside the body, between steps: recording
            assert out.grad_fn is None and not mode  # inside the body: not
            assert (x * 1.0).grad_fn is not None
            try:
                out, mode = gen.send(i)
            except StopIteration:
                break


def test_a_generator_closed_early_restores_grad_mode() -> None:
    @mg.no_grad()
    def steps():
        try:
            while True:
                yield mg.is_grad_enabled()
        finally:
            assert not mg.is_grad_enabled()  # the cleanup runs under no_grad too

    gen = steps()
    assert next(gen) is False
    gen.close()
    assert mg.is_grad_enabled()


# ----- threads ----------------------------------------------------------------------------------------
def _train(seed: int, steps: int = 5) -> list[np.ndarray]:
    mg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = mg.randn(16, 3), mg.randn(16, 1)
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
    return [p.numpy().copy() for p in model.parameters()]


def test_no_grad_in_one_thread_does_not_stop_recording_in_another() -> None:
    """One thread sits inside no_grad() while the other trains; both are checked."""
    expected = _train(seed=1)
    inside_no_grad, trained = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def evaluator() -> None:
        x = f64([1.0, 2.0])
        with mg.no_grad():
            inside_no_grad.set()
            trained.wait(timeout=60)
            out = x * 3.0
            results["eval"] = (out.grad_fn, mg.is_grad_enabled())

    def trainer() -> None:
        inside_no_grad.wait(timeout=60)
        try:
            results["params"] = _train(seed=1)
            results["mode"] = mg.is_grad_enabled()
        finally:
            trained.set()

    threads = [threading.Thread(target=evaluator), threading.Thread(target=trainer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results["eval"] == (None, False)
    assert results["mode"] is True
    for got, want in zip(results["params"], expected):
        np.testing.assert_array_equal(got, want)
    assert mg.is_grad_enabled()


def test_module_scopes_are_per_thread() -> None:
    inside, release = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def holder() -> None:
        with autograd.module_scope("encoder.layers.0"):
            inside.set()
            release.wait(timeout=60)

    thread = threading.Thread(target=holder)
    thread.start()
    inside.wait(timeout=60)
    seen["scope"], seen["in_call"] = autograd.current_scope(), autograd.in_module_call()
    x = f64([1.0])
    seen["node_scope"] = (x * 2.0).grad_fn.scope
    release.set()
    thread.join(timeout=60)
    assert seen == {"scope": "", "in_call": False, "node_scope": ""}


def test_concurrent_backward_into_one_leaf_loses_no_update() -> None:
    n, rounds = 200_000, 15  # large arrays: numpy releases the GIL inside the additions
    w = mg.tensor(np.ones(n), requires_grad=True)
    start = threading.Barrier(2)

    def worker(scale: float) -> None:
        start.wait(timeout=60)
        for _ in range(rounds):
            (w * scale).sum().backward()

    threads = [threading.Thread(target=worker, args=(s,)) for s in (1.0, 2.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    np.testing.assert_array_equal(w.grad.numpy(), np.full(n, 3.0 * rounds))
