"""Einstein summation with explicit subscripts, e.g. "bij,bjk->bik", and its gradient, which
is another einsum per operand.

For out = einsum("A,B->O", a, b), the gradient for a is einsum("O,B->A", grad, b): each letter
of a is either in the output (the gradient keeps it) or summed against b (the gradient gets it
back from b). A letter that only a has was summed over a alone; its gradient is the same along
it, so the einsum leaves it out and broadcasting puts it back.

Subscripts reach this op already expanded: one letter per dim of each operand (no "..."), no
letter twice in one operand.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function


class Einsum(Function):
    promotion = "common"

    @staticmethod
    def forward(ctx, *operands, inputs, output):
        ctx.save_for_backward(*operands)
        ctx.subscripts = (inputs, output)
        return np.einsum(",".join(inputs) + "->" + output, *operands, optimize=len(operands) > 1)

    @staticmethod
    def backward(ctx, grad):
        operands = ctx.saved_tensors
        inputs, output = ctx.subscripts
        grads = []
        for i, (x, letters) in enumerate(zip(operands, inputs)):
            if not ctx.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [s for j, s in enumerate(inputs) if j != i]
            seen = set(output).union(*others)
            kept = "".join(c for c in letters if c in seen)  # the letters only x has are left out
            terms = [output] + others
            g = np.einsum(",".join(terms) + "->" + kept, grad, *[o for j, o in enumerate(operands) if j != i],
                          optimize=len(terms) > 1)  # dL/dx = einsum(out, others -> x)
            g = g.reshape(tuple(g.shape[kept.index(c)] if c in seen else 1 for c in letters))
            stretched = tuple(d for d, (n, m) in enumerate(zip(g.shape, x.shape)) if n != m and m == 1)
            if stretched:  # a size-1 dim of x that numpy broadcast against the others
                g = g.sum(axis=stretched, keepdims=True)
            grads.append(np.broadcast_to(g, x.shape))
        return tuple(grads)
