"""The leaky integrate-and-fire recurrence over ``T`` sub-steps as one fused operation, with its backward pass.

:func:`leaky_scan` runs snntorch's ``Leaky`` update over input currents
``(B, T, N)`` from a zero membrane, in one call instead of a handful of
small tensor ops per sub-step, and a hand-written backward pass over the same
recurrence (backpropagation through time) instead of an autograd graph of
``T`` steps. On the CPU both are compiled loops (numba) over the whole
tensor; on other devices the same recurrence runs as one torch op per
sub-step. Two resets, as in :mod:`spikegym.rl.extractors`:

* ``subtract`` (snntorch's default, ``reset_delay=True``):
  ``m_t = beta m_{t-1} + c_t - s_{t-1} threshold`` with the reset detached,
  ``s_t = H(m_t - threshold)``;
* ``zero`` (``reset_mechanism="zero", reset_delay=False``, NIR's ``LIF``):
  ``u_t = beta m_{t-1} + c_t``, ``s_t = H(u_t - threshold)``,
  ``m_t = u_t - s_t u_t``, the gradient flowing through the spike in the reset.

The spike's gradient is ``derivative(membrane - threshold)``, a surrogate.
The forward pass performs the same float operations in the same order as
the step-by-step module, so spikes and membranes are equal bit for bit; the
gradients equal autograd's up to float rounding. Without gradients (rollouts,
``torch.no_grad``) nothing is saved for a backward pass.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from numba import njit

Derivative = Callable[[torch.Tensor], torch.Tensor]
"""The surrogate derivative of the spike function, elementwise, at ``membrane - threshold``."""


def _fast_sigmoid_derivative(shifted: torch.Tensor, slope: float) -> torch.Tensor:
    return 1.0 / (slope * shifted.abs() + 1.0) ** 2


def _atan_derivative(shifted: torch.Tensor, alpha: float) -> torch.Tensor:
    return alpha / 2 / (1 + (torch.pi / 2 * alpha * shifted) ** 2)


def _sigmoid_derivative(shifted: torch.Tensor, slope: float) -> torch.Tensor:
    """``slope * s(slope x) * s(-slope x)``: snntorch's ``k e^(-kx) / (e^(-kx) + 1)^2`` without the overflow."""
    scaled = slope * shifted
    return slope * torch.sigmoid(scaled) * torch.sigmoid(-scaled)


def _triangular_derivative(shifted: torch.Tensor, threshold: float) -> torch.Tensor:
    """snntorch's ``triangular``: ``threshold`` below the threshold, ``-threshold`` at and above it."""
    return torch.where(shifted < 0, threshold, -threshold).to(shifted.dtype)


def _straight_through_derivative(shifted: torch.Tensor, _: float) -> torch.Tensor:
    return torch.ones_like(shifted)


SURROGATES: dict[str, tuple[Callable[[torch.Tensor, float], torch.Tensor], float]] = {
    "fast_sigmoid": (_fast_sigmoid_derivative, 25.0),
    "atan": (_atan_derivative, 2.0),
    "sigmoid": (_sigmoid_derivative, 25.0),
    "triangular": (_triangular_derivative, 1.0),
    "straight_through": (_straight_through_derivative, 1.0),
}
"""Surrogate gradients by name: the derivative of the smooth stand-in and the default of its slope.

The same gradients as ``snntorch.surrogate`` (slope 25 for ``fast_sigmoid``
and ``sigmoid``, ``alpha`` 2 for ``atan``), computed so that none overflows:
snntorch's ``sigmoid`` computes ``exp(-k x)`` and gives NaN once a membrane is
a few units below threshold (``exp(100)`` at ``k = 25``, ``x = -4``).
``triangular`` and ``straight_through`` take no slope. The compiled backward
pass of :func:`leaky_scan` computes the same derivatives itself (``_derivative_kernel``).
"""
RESETS: tuple[str, ...] = ("subtract", "zero")
_COMPILED_DTYPES = (torch.float32, torch.float64)
_EMPTY: dict[torch.dtype, np.ndarray] = {
    torch.float32: np.empty((0, 0, 0), np.float32),
    torch.float64: np.empty((0, 0, 0), np.float64),
}
_COMPILED_SURROGATES = ("fast_sigmoid", "atan", "triangular", "straight_through")
"""The surrogates whose derivative :func:`_derivative_kernel` computes (by their index); ``sigmoid`` needs
``exp``, which numba does not vectorise (without Intel's SVML), so torch computes it as it does any callable."""
_KERNEL = {"cache": True, "error_model": "numpy"}
"""numba options of the kernels: float division without Python's zero check, so that loops vectorise."""


@njit(**_KERNEL)
def _forward_kernel(current, beta, threshold, zero, spikes, membranes, fired_at, initial, starts, block):
    """Write spikes and membranes ``(B, T, N)`` for currents ``current``; ``fired_at`` (unless empty) gets
    the membrane each spike was decided on (before a zero reset). The float operations of the stepped module.

    ``initial`` (unless empty) holds each row's starting membrane and spike ``(2, B, N)``; ``starts`` (unless
    empty) ``(B, T // block)`` zeroes both before every ``block`` of sub-steps it marks."""
    batch, steps, width = current.shape
    keep = fired_at.shape[0] != 0
    has_initial = initial.shape[0] != 0
    has_starts = starts.shape[0] != 0
    one, nil = np.ones(1, current.dtype)[0], np.zeros(1, current.dtype)[0]
    membrane = np.zeros(width, current.dtype)
    spike = np.zeros(width, current.dtype)
    for b in range(batch):
        if has_initial:
            membrane[:] = initial[0, b]
            spike[:] = initial[1, b]
        else:
            membrane[:] = 0
            spike[:] = 0
        for t in range(steps):
            if has_starts and t % block == 0 and starts[b, t // block]:
                membrane[:] = 0
                spike[:] = 0
            if zero:
                for i in range(width):
                    m = beta[i] * membrane[i] + current[b, t, i]
                    if keep:
                        fired_at[b, t, i] = m
                    s = one if m - threshold[i] > 0 else nil
                    m = m - s * m
                    spikes[b, t, i] = s
                    membranes[b, t, i] = m
                    membrane[i] = m
            else:
                for i in range(width):
                    m = beta[i] * membrane[i] + current[b, t, i] - spike[i] * threshold[i]
                    s = one if m - threshold[i] > 0 else nil
                    spikes[b, t, i] = s
                    membranes[b, t, i] = m
                    membrane[i] = m
                    spike[i] = s
    return spikes


@njit(**_KERNEL)
def _derivative_kernel(fired_at, threshold, kind, scale, numerator, out):
    """Write the derivative of :data:`_COMPILED_SURROGATES` number ``kind`` at ``fired_at - threshold`` into
    ``out``, as its torch function computes it: ``scale`` and ``numerator`` are its constants in the dtype."""
    batch, steps, width = fired_at.shape
    one = np.ones(1, fired_at.dtype)[0]
    for b in range(batch):
        for t in range(steps):
            if kind == 0:  # fast_sigmoid: 1 / (slope |x| + 1)^2
                for i in range(width):
                    root = scale * abs(fired_at[b, t, i] - threshold[i]) + one
                    out[b, t, i] = one / (root * root)
            elif kind == 1:  # atan: alpha / 2 / (1 + (pi / 2 alpha x)^2)
                for i in range(width):
                    scaled = scale * (fired_at[b, t, i] - threshold[i])
                    out[b, t, i] = numerator / (one + scaled * scaled)
            elif kind == 2:  # triangular: its slope below the threshold, minus it at and above
                for i in range(width):
                    out[b, t, i] = numerator if fired_at[b, t, i] - threshold[i] < 0 else -numerator
            else:  # straight_through
                for i in range(width):
                    out[b, t, i] = one
    return out


@njit(**_KERNEL)
def _backward_kernel(
    grad_spikes, grad_membranes, derivative, fired_at, threshold, beta, zero, starts, block, grad_current
):
    """Write ``dL/dcurrent`` into ``grad_current`` given ``dL/dspikes`` and ``dL/dmembranes`` (either empty when
    not used), the surrogate derivative at each spike decision (empty when not needed), the membranes spikes
    were decided on, ``threshold``, ``beta`` and the forward pass's ``starts`` (no gradient crosses them)."""
    batch, steps, width = grad_current.shape
    has_spikes = grad_spikes.shape[0] != 0
    has_membranes = grad_membranes.shape[0] != 0
    has_starts = starts.shape[0] != 0
    carry = np.zeros(width, grad_current.dtype)  # beta * dL/du_{t+1}: the next membrane depends on this one
    for b in range(batch):
        carry[:] = 0
        for t in range(steps - 1, -1, -1):
            if zero:  # m = u - s u, s = H(u - threshold), the gradient through the spike too
                for i in range(width):
                    g = carry[i]
                    if has_membranes:
                        g = g + grad_membranes[b, t, i]
                    membrane = fired_at[b, t, i]
                    g_spike = -g * membrane
                    if has_spikes:
                        g_spike = g_spike + grad_spikes[b, t, i]
                    kept = g - g if membrane - threshold[i] > 0 else g
                    g = kept + g_spike * derivative[b, t, i]
                    grad_current[b, t, i] = g
                    carry[i] = beta[i] * g
            else:  # the delayed reset is detached: the spike's gradient only leaves through its own output
                for i in range(width):
                    g = carry[i]
                    if has_membranes:
                        g = g + grad_membranes[b, t, i]
                    if has_spikes:
                        g = g + grad_spikes[b, t, i] * derivative[b, t, i]
                    grad_current[b, t, i] = g
                    carry[i] = beta[i] * g
            if has_starts and t % block == 0 and starts[b, t // block]:
                carry[:] = 0
    return grad_current


def _numpy(tensor: torch.Tensor | None, dtype: torch.dtype) -> np.ndarray:
    return _EMPTY[dtype] if tensor is None else tensor.detach().contiguous().numpy()


def _compiled(tensor: torch.Tensor) -> bool:
    return tensor.device.type == "cpu" and tensor.dtype in _COMPILED_DTYPES


@dataclass(frozen=True)
class _Carry:
    """What carries into a scan: the rows' starting membranes and spikes ``(2, B, N)`` (``None``: zeros), and
    the starts ``(B, L)`` that zero them before each of the ``L`` blocks of ``T // L`` sub-steps (``None``: none)."""

    initial: torch.Tensor | None = None
    starts: torch.Tensor | None = None

    def block(self, steps: int) -> int:
        return steps if self.starts is None else steps // self.starts.shape[1]

    def starts_numpy(self) -> np.ndarray:
        return _NO_STARTS if self.starts is None else self.starts.detach().to(torch.uint8).contiguous().numpy()

    def reset_before(self, t: int, block: int) -> torch.Tensor | None:
        """The keep-mask ``(B, 1)`` (0 where a start zeroes the state before sub-step ``t``), if any row starts."""
        if self.starts is None or t % block:
            return None
        return (~self.starts[:, t // block].bool()).unsqueeze(1)


_NO_STARTS = np.empty((0, 0), np.uint8)


def _forward(
    current: torch.Tensor, beta: torch.Tensor, threshold: torch.Tensor, zero: bool, keep: bool, carry: _Carry
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Spikes, membranes and (``keep``) the membranes spikes were decided on; ``beta``/``threshold`` ``(N,)``."""
    spikes, membranes = torch.empty_like(current), torch.empty_like(current)
    fired_at = torch.empty_like(current) if keep else None
    block = carry.block(current.shape[1])
    if _compiled(current):
        _forward_kernel(
            _numpy(current, current.dtype),
            beta.numpy(),
            threshold.numpy(),
            zero,
            spikes.numpy(),
            membranes.numpy(),
            _numpy(fired_at, current.dtype),
            _numpy(carry.initial, current.dtype),
            carry.starts_numpy(),
            block,
        )
        return spikes, membranes, fired_at
    if carry.initial is None:
        membrane = torch.zeros_like(current[:, 0])
        spike = torch.zeros_like(membrane)
    else:
        membrane, spike = carry.initial[0].to(current.dtype), carry.initial[1].to(current.dtype)
    for t in range(current.shape[1]):
        kept = carry.reset_before(t, block)
        if kept is not None:
            membrane, spike = membrane * kept, spike * kept
        membrane = beta * membrane + current[:, t]
        if not zero:
            membrane = membrane - spike * threshold
        if keep:
            fired_at[:, t] = membrane
        spike = (membrane - threshold > 0).to(current.dtype)
        if zero:
            membrane = membrane - spike * membrane
        spikes[:, t], membranes[:, t] = spike, membrane
    return spikes, membranes, fired_at


def _backward(
    grad_spikes: torch.Tensor | None,
    grad_membranes: torch.Tensor | None,
    fired_at: torch.Tensor,
    threshold: torch.Tensor,
    beta: torch.Tensor,
    zero: bool,
    surrogate: _Surrogate,
    carry: _Carry,
) -> torch.Tensor:
    """``dL/dcurrent`` given the gradients of the spikes and membranes (``None``: not used), the membranes
    spikes were decided on, ``threshold`` and ``beta`` ``(N,)``, the reset, the surrogate and the starts."""
    like = grad_spikes if grad_spikes is not None else grad_membranes
    grad_current = torch.empty(like.shape, dtype=like.dtype, device=like.device)
    derivative = surrogate.at(fired_at, threshold) if zero or grad_spikes is not None else None
    block = carry.block(grad_current.shape[1])
    if _compiled(grad_current):
        dtype = grad_current.dtype
        _backward_kernel(
            _numpy(grad_spikes, dtype),
            _numpy(grad_membranes, dtype),
            _numpy(derivative, dtype),
            fired_at.numpy(),
            threshold.numpy(),
            beta.numpy(),
            zero,
            carry.starts_numpy(),
            block,
            grad_current.numpy(),
        )
        return grad_current
    grad_carry = torch.zeros_like(grad_current[:, 0])
    for t in range(grad_current.shape[1] - 1, -1, -1):
        g = grad_carry if grad_membranes is None else grad_carry + grad_membranes[:, t]
        if zero:
            g_spike = -g * fired_at[:, t] if grad_spikes is None else grad_spikes[:, t] - g * fired_at[:, t]
            g = g - g * (fired_at[:, t] - threshold > 0).to(g.dtype) + g_spike * derivative[:, t]
        elif grad_spikes is not None:
            g = g + grad_spikes[:, t] * derivative[:, t]
        grad_current[:, t] = g
        grad_carry = beta * g
        kept = carry.reset_before(t, block)
        if kept is not None:
            grad_carry = grad_carry * kept
    return grad_current


def _call_with_slope(
    function: Callable[[torch.Tensor, float], torch.Tensor], slope: float, shifted: torch.Tensor
) -> torch.Tensor:
    return function(shifted, slope)


@dataclass(frozen=True)
class _Surrogate:
    """A surrogate derivative: a torch function, and where the compiled kernel has it, its kind and constants."""

    derivative: Derivative
    kind: int | None = None
    scale: float = 1.0
    numerator: float = 1.0

    @classmethod
    def of(cls, surrogate: str | Derivative, slope: float | None) -> _Surrogate:
        if callable(surrogate):
            return cls(surrogate)
        if surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {sorted(SURROGATES)} or a callable, got {surrogate!r}")
        function, default = SURROGATES[surrogate]
        chosen = default if slope is None or surrogate in ("triangular", "straight_through") else float(slope)
        torch_function = functools.partial(_call_with_slope, function, chosen)
        if surrogate not in _COMPILED_SURROGATES:
            return cls(torch_function)
        scale = torch.pi / 2 * chosen if surrogate == "atan" else chosen
        numerator = chosen / 2 if surrogate == "atan" else chosen
        return cls(torch_function, _COMPILED_SURROGATES.index(surrogate), scale, numerator)

    def at(self, fired_at: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        """The derivative at ``fired_at - threshold``: compiled on the CPU where it can be, else by torch."""
        if self.kind is None or not _compiled(fired_at):
            return self.derivative(fired_at - threshold)
        cast = fired_at.numpy().dtype.type
        out = torch.empty_like(fired_at)
        _derivative_kernel(
            fired_at.numpy(), threshold.numpy(), self.kind, cast(self.scale), cast(self.numerator), out.numpy()
        )
        return out


def _per_neuron(value: torch.Tensor | float, current: torch.Tensor) -> torch.Tensor:
    """``value`` as ``(N,)`` in the currents' dtype: what torch's type promotion makes of it in ``value * current``."""
    if not isinstance(value, torch.Tensor):
        return torch.full(current.shape[-1:], float(value), dtype=current.dtype, device=current.device)
    value = value.detach().to(current.device, current.dtype)
    return value if value.shape == current.shape[-1:] else value.expand(current.shape[-1]).contiguous()


class _LeakyScan(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        current: torch.Tensor,
        beta: torch.Tensor,
        threshold: torch.Tensor,
        zero: bool,
        surrogate: _Surrogate,
        carry: _Carry,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        spikes, membranes, fired_at = _forward(current, beta, threshold, zero, zero, carry)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(membranes if fired_at is None else fired_at, beta, threshold)
        ctx.zero, ctx.surrogate, ctx.carry = zero, surrogate, carry
        return spikes, membranes

    @staticmethod
    def backward(
        ctx: Any, grad_spikes: torch.Tensor | None, grad_membranes: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, None, None, None, None, None]:
        if grad_spikes is None and grad_membranes is None:
            return None, None, None, None, None, None
        fired_at, beta, threshold = ctx.saved_tensors
        grad_current = _backward(
            grad_spikes, grad_membranes, fired_at, threshold, beta, ctx.zero, ctx.surrogate, ctx.carry
        )
        return grad_current, None, None, None, None, None


def leaky_scan(
    current: torch.Tensor,
    beta: torch.Tensor | float,
    threshold: torch.Tensor | float,
    reset: Literal["subtract", "zero"],
    surrogate: str | Derivative = "fast_sigmoid",
    slope: float | None = None,
    *,
    state: tuple[torch.Tensor, torch.Tensor] | None = None,
    starts: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes and membranes (after any reset), both ``(B, T, N)``, of leaky neurons driven by ``current``.

    :param current: input currents ``(B, T, N)``, float.
    :param beta: membrane decay per sub-step, a scalar or one per neuron ``(N,)``, in ``[0, 1]``.
    :param threshold: firing threshold, a scalar or one per neuron ``(N,)``.
    :param reset: ``"subtract"`` (delayed, detached: snntorch's default) or ``"zero"`` (in the step it fires).
    :param surrogate: the spike's surrogate gradient: a name in :data:`SURROGATES` (computed inside the
        compiled backward pass) or any elementwise derivative at ``membrane - threshold``.
    :param slope: the named surrogate's slope (``None``: its default).
    :param state: the membranes and spikes ``(B, N)`` each row starts from (``None``: zeros), as a previous
        scan's last sub-step left them (``membranes[:, -1], spikes[:, -1]``): scanning a sequence in pieces,
        passing the state along, gives the spikes of one scan. No gradient flows into it.
    :param starts: ``(B, L)`` booleans, ``L`` dividing ``T``: where set, membrane and spike are zeroed before
        that block of ``T // L`` sub-steps (an episode start inside a sequence); no gradient crosses them.

    ``beta`` and ``threshold`` are constants here: no gradient flows to them.

    >>> current = torch.tensor([[[0.6], [0.8], [0.3], [1.2]]])
    >>> spikes, membranes = leaky_scan(current, 0.5, 1.0, "zero", "atan")
    >>> spikes.flatten().tolist(), [round(m, 4) for m in membranes.flatten().tolist()]
    ([0.0, 1.0, 0.0, 1.0], [0.6, 0.0, 0.3, 0.0])
    >>> first, rest = leaky_scan(current[:, :2], 0.5, 1.0, "zero"), None
    >>> rest = leaky_scan(current[:, 2:], 0.5, 1.0, "zero", state=(first[1][:, -1], first[0][:, -1]))
    >>> torch.cat([first[0], rest[0]], dim=1).flatten().tolist()
    [0.0, 1.0, 0.0, 1.0]
    """
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {list(RESETS)}, got {reset!r}")
    if current.dim() != 3 or not current.is_floating_point():
        raise ValueError(
            f"current must be a float tensor (B, T, N), got {current.dtype} of shape {tuple(current.shape)}"
        )
    carry = _carry(current, state, starts)
    chosen = _Surrogate.of(surrogate, slope)
    per_neuron = [_per_neuron(value, current) for value in (beta, threshold)]
    current = current.contiguous()
    if torch.is_grad_enabled() and current.requires_grad:
        return _LeakyScan.apply(current, *per_neuron, reset == "zero", chosen, carry)
    spikes, membranes, _ = _forward(current, *per_neuron, reset == "zero", False, carry)
    return spikes, membranes


def _carry(
    current: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None, starts: torch.Tensor | None
) -> _Carry:
    """``state`` and ``starts`` checked against ``current`` ``(B, T, N)``."""
    batch, steps, width = current.shape
    initial = None
    if state is not None:
        membrane, spike = state
        if membrane.shape != (batch, width) or spike.shape != (batch, width):
            raise ValueError(
                f"state must be membranes and spikes of shape {(batch, width)}, got {tuple(membrane.shape)} "
                f"and {tuple(spike.shape)}"
            )
        initial = torch.stack([membrane.detach(), spike.detach()]).to(current.device, current.dtype)
    if starts is not None and (starts.dim() != 2 or starts.shape[0] != batch or steps % max(starts.shape[1], 1)):
        raise ValueError(
            f"starts must be (B, L) with B = {batch} and L dividing T = {steps}, got shape {tuple(starts.shape)}"
        )
    return _Carry(initial, None if starts is None else starts.to(current.device))
