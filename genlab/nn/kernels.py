"""Hand-written numerical kernels shared by the models' likelihoods."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def softplus_sum(logits: torch.Tensor, group: int = 64) -> torch.Tensor:
    """sum softplus(l) over the last axis, as sum relu(l) + sum over groups of log prod (1 + e^-|l|).

    The same function as ``F.softplus(logits).sum(-1)`` (within float32 rounding), three times
    faster on CPU, where a vectorised log costs about ten times an exp: one log per ``group``
    values. Every factor lies in (1, 2], so a product of at most 64 stays below 2**64, far
    from float32's limit (16-bit floats take the plain route)."""
    if logits.element_size() < 4:
        return F.softplus(logits).sum(-1)
    d = logits.shape[-1]
    g = next(n for n in range(min(group, d), 0, -1) if d % n == 0)  # a divisor of d: a free view
    factors = logits.abs().neg_().exp_().add_(1)
    log_prod = factors.view(*logits.shape[:-1], d // g, g).prod(-1).log_().sum(-1)
    return logits.clamp_min(0).sum(-1) + log_prod


class BernoulliLogLik(torch.autograd.Function):
    """sum_j x_j l_j - softplus(l_j) over the last axis: log p(x) of Bernoulli pixels with logits l,
    for x of 0/1 values broadcastable to l. The backward is the one expression x - sigmoid(l)."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(logits, x)
        return (logits * x).sum(-1) - softplus_sum(logits)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        logits, x = ctx.saved_tensors
        return (x - torch.sigmoid(logits)) * grad.unsqueeze(-1), None
