"""Scaled dot-product attention as one fused op: softmax(q k^T * scale + bias) v.

Written as a chain of small ops, attention records the scores, the masked scores, the
probabilities and the dropped-out probabilities, each a (..., L, S) array that the graph keeps
until backward. Fused, the probabilities P are the only (..., L, S) array kept (plus a one-byte
keep mask when dropout is on); backward rebuilds the rest from them in closed form:

    O  = P v                      dv = P^T dO
    P  = softmax(S)               dP = dO v^T
    S  = q k^T s + bias           dS = P * (dP - rowsum(dP * P))
                                  dq = dS k s,  dk = dS^T q s,  dbias = dS

With grouped-query attention (`groups` > 1) each key/value head serves `groups` consecutive
query heads. Instead of repeating k and v, the query heads are viewed as (..., Hk, groups, L, E)
and k, v as (..., Hk, 1, S, E), so numpy broadcasting pairs them; dk and dv sum over the group.

The arguments reach this op checked by `minigrad.functional.scaled_dot_product_attention`.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..parallel import matmul
from .rows import dots, sums


def _grouped(x: np.ndarray, groups: int) -> np.ndarray:
    """(..., H, L, E) -> (..., H // groups, groups, L, E), a view."""
    return x.reshape(x.shape[:-3] + (x.shape[-3] // groups, groups) + x.shape[-2:])


def _heads_of(mask: np.ndarray, full: tuple[int, ...], groups: int) -> np.ndarray:
    """A mask or bias broadcastable to the ungrouped scores `full` (..., Hq, L, S), in the
    grouped layout (..., Hk, groups, L, S)."""
    return _grouped(np.broadcast_to(mask, np.broadcast_shapes(mask.shape, full)), groups)


def mask_label(hidden: np.ndarray, queries: int) -> str:
    """What a mask of hidden keys (bool, True = hidden, broadcastable to (..., L, S) with L =
    `queries`) does, in words for a picture: "key padding mask" when it hides the same keys
    from every query (its shape has one row for all queries, or its rows are equal), "causal
    mask" when it hides exactly the keys after each query (aligned at the top left, or at the
    bottom right as with a KV cache), "causal + key padding mask" for both at once, else
    "attention mask"."""
    keys = hidden.shape[-1]
    if (hidden.ndim < 2 or hidden.shape[-2] == 1) and queries > 1:
        return "key padding mask"
    h = np.broadcast_to(hidden, hidden.shape[:-2] + (queries, keys))
    causal = [np.triu(np.ones((queries, keys), dtype=bool), k) for k in {1, 1 + keys - queries}]
    padding = h.all(axis=-2, keepdims=True)  # (..., 1, S): the keys no query may see
    if not h.any():
        return "attention mask"
    if any(np.array_equal(h, np.broadcast_to(c, h.shape)) for c in causal):
        return "causal mask"
    if np.array_equal(h, np.broadcast_to(padding, h.shape)):
        return "key padding mask"
    if any(np.array_equal(h, c | padding) for c in causal):
        return "causal + key padding mask"
    return "attention mask"


class ScaledDotProductAttention(Function):
    """Inputs: q (..., Hq, L, E), k (..., Hk, S, E), v (..., Hk, S, Ev), and optionally a float
    `bias` broadcastable to (..., Hq, L, S) (a float attn_mask, differentiable). Keywords:
    `hidden` (bool, True = the key is hidden from the query, or None), `scale`, `groups`
    (Hq / Hk, 1 without grouped-query attention), `dropout_p` and the `generator` for its mask.

    A query whose keys are all hidden gets all-zero probabilities (and so a zero output and
    zero gradients), as in PyTorch, instead of the 0/0 of a softmax over nothing.
    """

    @staticmethod
    def forward(ctx, q, k, v, *bias, hidden, scale, groups, dropout_p, generator):
        ctx.hidden = hidden  # for pictures of the graph (described_inputs), after backward too
        lead = 3 if groups > 1 else 2  # the dims that are not batch dims (heads differ with groups)
        batch = np.broadcast_shapes(q.shape[:-lead], k.shape[:-lead], v.shape[:-lead]) + q.shape[-lead:-2]
        full = np.broadcast_shapes(batch + (q.shape[-2], k.shape[-2]), *(m.shape for m in bias),
                                   *(() if hidden is None else (hidden.shape,)))  # (..., Hq, L, S)
        if groups > 1:
            q, k, v = _grouped(q, groups), k[..., None, :, :], v[..., None, :, :]
            bias = tuple(_heads_of(b, full, groups) for b in bias)
            hidden = None if hidden is None else _heads_of(hidden, full, groups)
        scores = matmul(q * scale, np.swapaxes(k, -1, -2))  # (..., L, E) @ (..., E, S) -> (..., L, S)
        # Hidden keys get -inf added (exp gives exactly 0): adding a small broadcast array is
        # ~5x faster than a masked copy into the scores (measured).
        added = [] if hidden is None else [np.where(hidden, np.asarray(-np.inf, dtype=scores.dtype),
                                                    np.zeros((), dtype=scores.dtype))]
        for term in list(bias) + added:
            if np.broadcast_shapes(scores.shape, term.shape) == scores.shape:
                scores += term
            else:
                scores = scores + term

        # softmax over the keys; a row with every key hidden has max -inf: shift it by 0 instead
        row_max = scores.max(axis=-1, keepdims=True, initial=-np.inf)  # (initial: S may be 0)
        row_max[np.isneginf(row_max)] = 0
        probs = np.subtract(scores, row_max, out=scores)
        np.exp(probs, out=probs)
        total = sums(probs, probs.ndim - 1)
        total[total == 0] = 1  # the all-hidden rows: 0 / 1 = 0
        probs /= total  # P (..., L, S)

        keep = None
        dropped = probs
        if dropout_p > 0:
            keep = generator.random(probs.shape, dtype=np.float32) >= dropout_p  # True = kept
            dropped = probs * keep
            dropped *= 1 / (1 - dropout_p)
        out = matmul(dropped, v)  # (..., L, S) @ (..., S, Ev) -> (..., L, Ev)
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(q, k, v, probs, keep)
            ctx.args = (scale, groups, dropout_p, full)
        if groups > 1:  # (..., Hk, groups, L, Ev) -> (..., Hq, L, Ev)
            out = out.reshape(out.shape[:-4] + (out.shape[-4] * groups,) + out.shape[-2:])
        return out

    @staticmethod
    def backward(ctx, grad):
        q, k, v, probs, keep = ctx.saved_tensors
        scale, groups, dropout_p, full = ctx.args
        needs = ctx.needs_input_grad
        g = _grouped(grad, groups) if groups > 1 else grad  # dO
        dropped = probs
        if keep is not None:
            dropped = probs * keep
            dropped *= 1 / (1 - dropout_p)

        dv = matmul(np.swapaxes(dropped, -1, -2), g) if needs[2] else None  # dv = P^T dO
        dq = dk = dbias = None
        if needs[0] or needs[1] or (len(needs) > 3 and needs[3]):
            ds = matmul(g, np.swapaxes(v, -1, -2))  # dP = dO v^T  (..., L, S)
            if keep is not None:
                ds *= keep
                ds *= 1 / (1 - dropout_p)
            ds -= dots(ds, probs)
            ds *= probs  # dS = P * (dP - rowsum(dP * P))
            if needs[0]:
                dq = matmul(ds, k)  # dq = dS k s
                dq *= scale
            if needs[1]:
                dk = matmul(np.swapaxes(ds, -1, -2), q)  # dk = dS^T q s
                dk *= scale
            if len(needs) > 3 and needs[3]:
                dbias = ds.reshape(full) if groups > 1 else ds  # dbias = dS
        if groups > 1:  # back from the grouped layout; dk, dv sum over the query heads they served
            dq = None if dq is None else dq.reshape(dq.shape[:-4] + (-1,) + dq.shape[-2:])
            dk = None if dk is None else dk.sum(axis=-3)
            dv = None if dv is None else dv.sum(axis=-3)
        return (dq, dk, dv) + ((dbias,) if len(needs) > 3 else ())

    def described_inputs(self):
        if self.hidden is None:
            return ()
        return ((mask_label(self.hidden, self.input_shapes[0][-2]), self.hidden),)
