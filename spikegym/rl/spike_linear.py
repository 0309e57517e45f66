"""A linear layer driven by spikes: event-driven (only the active inputs' weights are summed) where few fire.

A spiking layer's input is its predecessor's spikes over ``B x T`` rows; when
few of them fire (the first hidden layer of the MountainCar-v0 DQN policy
fires on under 1% of its sub-steps), a dense matrix product spends nearly all
its work on zeros. :func:`spike_linear` counts the active inputs first and,
below :data:`SPARSE_BELOW` of them in a layer of at least
:data:`SPARSE_MIN_WIDTH` inputs and outputs, sums only the weight columns of
active inputs (forward) and accumulates only their weight gradients
(backward), each in a compiled loop; otherwise, or off the CPU, it is
``torch.nn.functional.linear``. The result equals the dense product up to
float rounding (the order of the additions differs, as it does between
torch's own products for different batch sizes).
"""

from __future__ import annotations

from typing import Any

import torch
from numba import njit
from torch.nn import functional

SPARSE_BELOW = 0.1
"""The fraction of nonzero inputs below which the event-driven path runs (measured: at 256 x 256 weights it
is faster than the dense product up to about 15% active inputs)."""
SPARSE_MIN_WIDTH = 128
"""The event-driven path runs only for at least this many inputs and outputs: checking every input costs
about as much as a dense product of 64 outputs (measured: 64 x 64 and 256 -> 64 layers ran slower event-driven
at 5% active inputs; 256 x 256 ran 1.5x faster at 8%, 2.7x at 1%)."""
_KERNEL = {"cache": True, "error_model": "numpy"}


@njit(**_KERNEL)
def _count_nonzero(x):
    count = 0
    for value in x.ravel():
        count += value != 0
    return count


@njit(**_KERNEL)
def _sparse_forward(x, weight_t, bias, out):
    """``out = x @ weight_t + bias`` summing only the rows of ``weight_t`` (``(K, N)``) of nonzero inputs."""
    rows, inputs = x.shape
    width = weight_t.shape[1]
    for r in range(rows):
        out[r, :] = 0
        for j in range(inputs):
            value = x[r, j]
            if value != 0:
                for i in range(width):
                    out[r, i] += value * weight_t[j, i]
        for i in range(width):
            out[r, i] = out[r, i] + bias[i]
    return out


@njit(**_KERNEL)
def _sparse_weight_grad(grad, x, grad_weight_t):
    """``grad_weight_t = x.T @ grad`` (``(K, N)``) accumulating only over nonzero inputs."""
    rows, inputs = x.shape
    width = grad.shape[1]
    grad_weight_t[:] = 0
    for r in range(rows):
        for j in range(inputs):
            value = x[r, j]
            if value != 0:
                for i in range(width):
                    grad_weight_t[j, i] += value * grad[r, i]
    return grad_weight_t


def _sparse_product(rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    out = torch.empty(rows.shape[0], weight.shape[0], dtype=rows.dtype)
    offsets = torch.zeros(weight.shape[0], dtype=rows.dtype) if bias is None else bias.detach()
    weight_t = weight.detach().t().contiguous()
    _sparse_forward(rows.detach().numpy(), weight_t.numpy(), offsets.contiguous().numpy(), out.numpy())
    return out


class _SparseLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(rows, weight)
        ctx.has_bias = bias is not None
        return _sparse_product(rows, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        rows, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_rows = grad @ weight if ctx.needs_input_grad[0] else None
        grad_weight = None
        if ctx.needs_input_grad[1]:
            grad_weight_t = torch.empty(weight.shape[1], weight.shape[0], dtype=grad.dtype)
            _sparse_weight_grad(grad.numpy(), rows.detach().numpy(), grad_weight_t.numpy())
            grad_weight = grad_weight_t.t()
        grad_bias = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_rows, grad_weight, grad_bias


def spike_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``torch.nn.functional.linear(x, weight, bias)``, event-driven when few inputs are nonzero.

    :param x: inputs ``(..., K)``, typically spikes in ``{0, 1}``.
    :param weight: ``(N, K)``.
    :param bias: ``(N,)`` or ``None``.

    >>> spikes = torch.zeros(4, 128)
    >>> spikes[0, 1] = 1.0
    >>> weight = torch.arange(128.0).repeat(128, 1)  # weight[:, j] = j
    >>> spike_linear(spikes, weight, torch.full((128,), 0.5))[:2, :3].tolist()
    [[1.5, 1.5, 1.5], [0.5, 0.5, 0.5]]
    """
    if (
        min(weight.shape) < SPARSE_MIN_WIDTH
        or not _compiled(x, weight, bias)
        or _count_nonzero(x.detach().numpy()) >= SPARSE_BELOW * x.numel()
    ):
        return functional.linear(x, weight, bias)
    rows = x.reshape(-1, x.shape[-1]).contiguous()
    needs_grad = torch.is_grad_enabled() and any(
        tensor is not None and tensor.requires_grad for tensor in (x, weight, bias)
    )
    out = _SparseLinear.apply(rows, weight, bias) if needs_grad else _sparse_product(rows, weight, bias)
    return out.reshape(*x.shape[:-1], weight.shape[0])


def _compiled(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> bool:
    tensors = [tensor for tensor in (x, weight, bias) if tensor is not None]
    dtype = x.dtype
    return (
        x.numel() > 0
        and dtype in (torch.float32, torch.float64)
        and all(tensor.device.type == "cpu" and tensor.dtype == dtype for tensor in tensors)
        and x.is_contiguous()
    )
