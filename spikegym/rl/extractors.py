"""Spiking feature extractors for stable-baselines3, built from snntorch neurons.

:class:`SpikingExtractor` reads a spike observation ``(T, C)`` (from
:class:`~spikegym.envs.wrappers.SpikeObservationWrapper`), runs layers of leaky
integrate-and-fire neurons (``snntorch.Leaky``, snntorch's surrogate gradients
in a form that cannot overflow, :class:`SurrogateSpike`) over its ``T`` sub-steps, and returns a read-out of
the last layer as features. The membrane state starts from zero on every
forward pass, so each observation is its own ``T``-step window: the network
is stateless across env steps, fits SB3's feed-forward policies, and keeps no
autograd graph between calls. It serves PPO, A2C, DQN, SAC and TD3 through
``policy_kwargs``::

    PPO("MlpPolicy", env, policy_kwargs={"features_extractor_class": SpikingExtractor, "net_arch": []})

With a :class:`gymnasium.spaces.Box` observation of scaled values in
``[0, 1]`` (:class:`~spikegym.envs.wrappers.ScaledObservationWrapper`), a learnable
population encoder (:class:`LearnablePopulationEncoder`, PopSAN style) turns
it into spikes inside the policy, so no stochastic spikes are frozen into
replay buffers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, Literal

import gymnasium as gym
import snntorch as snn
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from spikegym.rl.leaky_scan import RESETS as LEAKY_RESETS
from spikegym.rl.leaky_scan import SURROGATES, Derivative, leaky_scan
from spikegym.rl.spike_linear import spike_linear

Readout = Literal["membrane_mean", "last_membrane", "spike_count"]
READOUTS: tuple[str, ...] = ("membrane_mean", "last_membrane", "spike_count")
Reset = Literal["subtract", "zero"]
DEFAULT_HIDDEN: tuple[int, ...] = (64, 64)
"""The spiking layers' sizes when none are given."""
LayerState = tuple[torch.Tensor, torch.Tensor]
"""A spiking layer's state between calls: its membranes and its spikes of the last sub-step, ``(B, N)`` each
(for the first layer's synaptic current: the current and zeros)."""
RESETS: tuple[str, ...] = LEAKY_RESETS
_NEVER = float(torch.finfo(torch.float32).max)
"""The threshold of the synaptic current's scan: it never fires, so the scan is the current's recurrence alone."""
NIR_EXACT: dict[str, str] = {"reset": "zero", "readout": "spike_count"}
"""The extractor options whose dynamics are NIR primitives: ``LIF`` neurons that reset to zero in the step
they fire, and a spike-count read-out, which the action head turns into the sum of its per-sub-step outputs."""


class _SurrogateSpikeFunction(torch.autograd.Function):
    """Heaviside spike (in the membrane's dtype) whose backward pass is a surrogate derivative."""

    @staticmethod
    def forward(
        ctx: Any, shifted: torch.Tensor, derivative: Callable[[torch.Tensor, float], torch.Tensor], slope: float
    ) -> torch.Tensor:
        ctx.save_for_backward(shifted)
        ctx.derivative, ctx.slope = derivative, slope
        return (shifted > 0).to(shifted.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (shifted,) = ctx.saved_tensors
        return grad * ctx.derivative(shifted, ctx.slope), None, None


class SurrogateSpike:
    """A spike function ``membrane - threshold -> {0, 1}`` with a numerically safe surrogate gradient.

    A drop-in for snntorch's ``spike_grad`` callables (``snn.Leaky(spike_grad=...)``).

    >>> fire = SurrogateSpike("sigmoid")
    >>> shifted = torch.tensor([-1e4, -4.0, 0.5], requires_grad=True)
    >>> fire(shifted).tolist()
    [0.0, 0.0, 1.0]
    >>> bool(torch.isfinite(torch.autograd.grad(fire(shifted).sum(), shifted)[0]).all())
    True
    """

    def __init__(self, name: str, slope: float | None = None) -> None:
        if name not in SURROGATES:
            raise ValueError(f"surrogate must be one of {sorted(SURROGATES)}, got {name!r}")
        self.name = name
        self.derivative, default = SURROGATES[name]
        self.slope = default if slope is None or name in ("triangular", "straight_through") else float(slope)

    def __call__(self, shifted: torch.Tensor) -> torch.Tensor:
        return _SurrogateSpikeFunction.apply(shifted, self.derivative, self.slope)

    def __repr__(self) -> str:
        return f"SurrogateSpike({self.name!r}, slope={self.slope})"


def spike_surrogate(name: str, slope: float | None = None) -> SurrogateSpike:
    """The spike function with surrogate gradient ``name`` (with ``slope`` where it has one)."""
    return SurrogateSpike(name, slope)


class _StraightThroughSpike(torch.autograd.Function):
    """Heaviside spike with the identity as its pseudo-gradient (PopSAN's deterministic encoder)."""

    @staticmethod
    def forward(ctx: object, value: torch.Tensor) -> torch.Tensor:
        return (value > 0).to(value.dtype)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        return grad


class LearnablePopulationEncoder(nn.Module):
    """Gaussian receptive fields with trainable centres and widths that fire deterministic spikes.

    Each of ``n_features`` scaled inputs in ``[0, 1]`` drives ``n_bins``
    neurons with stimulation ``exp(-(x - mu)^2 / (2 sigma^2))``; each neuron
    integrates its stimulation and fires when the sum reaches 1 (then
    subtracts 1), over ``steps`` steps. The spike's pseudo-gradient is the
    identity, so ``mu`` and ``sigma`` learn.

    >>> encoder = LearnablePopulationEncoder(n_features=2, n_bins=5, steps=4)
    >>> encoder(torch.tensor([[0.0, 1.0]])).shape
    torch.Size([1, 4, 10])
    """

    def __init__(self, n_features: int, n_bins: int = 10, steps: int = 8) -> None:
        super().__init__()
        self.n_features, self.n_bins, self.steps = n_features, n_bins, steps
        centres = torch.linspace(0.0, 1.0, n_bins).repeat(n_features, 1)
        self.mu = nn.Parameter(centres)
        self.log_sigma = nn.Parameter(
            torch.full((n_features, n_bins), float(torch.log(torch.tensor(0.5 / (n_bins - 1)))))
        )

    def forward(self, scaled: torch.Tensor) -> torch.Tensor:
        """Spikes ``(B, steps, n_features * n_bins)`` for scaled observations ``(B, n_features)``."""
        sigma = self.log_sigma.exp()
        stimulation = torch.exp(-0.5 * ((scaled.unsqueeze(-1) - self.mu) / sigma) ** 2).flatten(1)
        potential = torch.zeros_like(stimulation)
        spikes = []
        for _ in range(self.steps):
            potential = potential + stimulation
            spike = _StraightThroughSpike.apply(potential - 0.999)
            potential = potential - spike
            spikes.append(spike)
        return torch.stack(spikes, dim=1)


def _surrogate(spike_grad: Callable[[torch.Tensor], torch.Tensor]) -> tuple[str | Derivative, float | None]:
    """The surrogate of ``spike_grad`` for :func:`leaky_scan`: a :class:`SurrogateSpike`'s name and slope
    (computed in the compiled kernel), else its elementwise derivative through autograd."""
    if isinstance(spike_grad, SurrogateSpike):
        return spike_grad.name, spike_grad.slope

    def through_autograd(shifted: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            leaf = shifted.detach().requires_grad_()
            return torch.autograd.grad(spike_grad(leaf).sum(), leaf)[0]

    return through_autograd, None


def _check_leaky(neuron: snn.Leaky) -> None:
    """Refuse the ``snn.Leaky`` options :func:`leaky_layer` does not run, naming them (rather than ignore them)."""
    to_zero = neuron.reset_mechanism == "zero"
    if (to_zero and neuron.reset_delay) or neuron.reset_mechanism not in RESETS:
        raise ValueError(
            f"leaky_layer runs snn.Leaky with reset 'subtract' (delayed) or 'zero' (reset_delay=False), got "
            f"reset_mechanism={neuron.reset_mechanism!r}, reset_delay={neuron.reset_delay}"
        )
    unsupported = {
        "learn_beta": neuron.beta.requires_grad,
        "learn_threshold": neuron.threshold.requires_grad,
        "inhibition": bool(neuron.inhibition),
        "state_quant": bool(neuron.state_quant),
        "graded_spikes_factor != 1": bool((torch.as_tensor(neuron.graded_spikes_factor) != 1).any()),
        "surrogate_disable": bool(neuron.surrogate_disable),
    }
    given = [name for name, used in unsupported.items() if used]
    if given:
        raise ValueError(f"leaky_layer does not run snn.Leaky with {', '.join(given)}; build the neuron without it")


def leaky_layer(neuron: snn.Leaky, current: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``neuron``'s dynamics over input currents ``(B, T, N)`` from a zero membrane.

    The same update as calling ``snn.Leaky`` step by step, with its ``beta``,
    ``threshold``, surrogate and reset, fused into one call that keeps no state
    in the module (:func:`~spikegym.rl.leaky_scan.leaky_scan`: a compiled loop
    over the ``T`` sub-steps and a hand-written backward pass): reset by
    subtraction, delayed (snntorch's default: the reset of step ``t`` is the
    detached spike of step ``t - 1``), or to zero in the step the neuron fires
    (``reset_mechanism="zero", reset_delay=False``: NIR's ``LIF``/``IF``).
    Spikes and membranes equal the stepped module's bit for bit. Without
    gradients nothing is kept for a backward pass. Options it does not run
    (learnable ``beta`` or threshold, inhibition, quantised state, graded
    spikes) are refused. Returns spikes and membranes (after any reset), both ``(B, T, N)``.

    >>> neuron = snn.Leaky(beta=0.5, spike_grad=spike_surrogate("atan"))
    >>> spikes, membranes = leaky_layer(neuron, torch.tensor([[[0.8], [0.8], [0.8]]]))
    >>> spikes.flatten().tolist(), [round(m, 4) for m in membranes.flatten().tolist()]
    ([0.0, 1.0, 0.0], [0.8, 1.2, 0.4])
    """
    _check_leaky(neuron)
    return _run_leaky(neuron, current)


def _run_leaky(
    neuron: snn.Leaky, current: torch.Tensor, state: LayerState | None = None, starts: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`leaky_layer` without checking the neuron's options (for neurons built that way), from ``state``
    with ``starts`` (:func:`~spikegym.rl.leaky_scan.leaky_scan`)."""
    surrogate, slope = _surrogate(neuron.spike_grad)
    return leaky_scan(
        current, neuron.beta.clamp(0, 1), neuron.threshold, neuron.reset_mechanism, surrogate, slope,
        state=state, starts=starts,
    )  # fmt: skip


def _synaptic_current(
    neuron: snn.Synaptic, drive: torch.Tensor, state: LayerState | None, starts: torch.Tensor | None
) -> torch.Tensor:
    """snntorch ``Synaptic``'s current ``i_t = alpha i_{t-1} + drive_t`` over ``(B, S, N)``, from ``state``'s current
    (``None``: zero), zeroed at ``starts``: the scan of :func:`~spikegym.rl.leaky_scan.leaky_scan` with a threshold
    it never reaches, so no reset ever enters it."""
    _, current = leaky_scan(
        drive, neuron.alpha.clamp(0, 1), _NEVER, "subtract", "straight_through", state=state, starts=starts
    )
    return current


def _per_layer(
    name: str, value: float | Sequence[float], hidden: Sequence[int], valid: Callable[[float], bool], allowed: str
) -> list[float]:
    """``value`` as one number per layer of ``hidden``, each checked by ``valid`` (a ``ValueError`` names them)."""
    values = [value] * len(hidden) if isinstance(value, int | float) else list(value)
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if len(values) != len(hidden) or not numbers or not all(valid(v) for v in values):
        raise ValueError(f"{name} must be {allowed}, one number or one per layer of {list(hidden)}, got {value!r}")
    return [float(v) for v in values]


class SpikingExtractor(BaseFeaturesExtractor):
    """Leaky integrate-and-fire layers over a spike observation's ``T`` sub-steps; a read-out as features.

    :param observation_space: ``MultiBinary((T, C))`` spike blocks, or a
        ``Box`` of ``F`` scaled values in ``[0, 1]`` for the learnable population encoder.
    :param hidden: sizes of the spiking layers; the last one's read-out is the features.
    :param beta: membrane decay per sub-step, in (0, 1]: one for every layer, or one per layer (``beta=1`` in the
        last layer of a stateful policy integrates its input over the episode).
    :param threshold: firing threshold: one for every layer, or one per layer.
    :param surrogate: surrogate gradient: ``fast_sigmoid``, ``atan``, ``sigmoid``, ``triangular``
        or ``straight_through``.
    :param slope: the surrogate's slope (``None``: snntorch's default).
    :param readout: ``membrane_mean`` (the last layer's membrane averaged over ``T``),
        ``last_membrane`` or ``spike_count`` (its spikes per sub-step).
    :param reset: ``subtract`` (snntorch's default: the threshold is subtracted one sub-step after a
        spike) or ``zero`` (the membrane is set to 0 in the sub-step it fires, as NIR's ``LIF`` does).
        With ``reset="zero", readout="spike_count"`` (:data:`NIR_EXACT`) the policy is NIR primitives
        only, and its NIR export runs as trained in other tools.
    :param n_bins: population neurons per feature of a ``Box`` observation.
    :param steps: sub-steps ``T`` of the learnable encoder for a ``Box`` observation.
    :param alpha: ``None`` (default): the first layer's current is ``W x_t + b``. A number in (0, 1]: the first
        layer is snntorch's ``Synaptic`` neuron on a bias-free ``nn.Linear``, with a synaptic current
        ``i_t = alpha i_{t-1} + W x_t`` that its membrane integrates (``m_t = beta m_{t-1} + i_t``). With
        ``alpha=1`` in a stateful policy the current sums the input spikes of the whole episode: a change code
        (step-forward: up and down spikes) is read as the level it encodes.

    >>> space = gym.spaces.MultiBinary((8, 16))
    >>> extractor = SpikingExtractor(space, hidden=(32,))
    >>> extractor(torch.ones(5, 8, 16)).shape
    torch.Size([5, 32])
    """

    def __init__(
        self,
        observation_space: gym.Space,
        hidden: Sequence[int] = DEFAULT_HIDDEN,
        beta: float | Sequence[float] = 0.9,
        threshold: float | Sequence[float] = 1.0,
        surrogate: str = "fast_sigmoid",
        slope: float | None = None,
        readout: Readout = "membrane_mean",
        n_bins: int = 10,
        steps: int = 8,
        reset: Reset = "subtract",
        alpha: float | None = None,
    ) -> None:
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {list(READOUTS)}, got {readout!r}")
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {list(RESETS)}, got {reset!r}")
        if not hidden or any(int(size) < 1 for size in hidden):
            raise ValueError(f"hidden must hold at least one layer size >= 1, got {hidden!r}")
        valid_alpha = isinstance(alpha, int | float) and not isinstance(alpha, bool) and 0.0 < alpha <= 1.0
        if alpha is not None and not valid_alpha:
            raise ValueError(f"alpha must be None (no synaptic current) or a number in (0, 1], got {alpha!r}")
        betas = _per_layer("beta", beta, hidden, lambda b: 0.0 < b <= 1.0, "in (0, 1]")
        thresholds = _per_layer("threshold", threshold, hidden, lambda t: t > 0, "> 0")
        super().__init__(observation_space, features_dim=int(hidden[-1]))
        self.encoder: LearnablePopulationEncoder | None = None
        if isinstance(observation_space, gym.spaces.MultiBinary) and len(observation_space.shape) == 2:
            self.steps, n_inputs = (int(n) for n in observation_space.shape)
        elif isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 1:
            self.encoder = LearnablePopulationEncoder(observation_space.shape[0], n_bins, steps)
            self.steps, n_inputs = steps, observation_space.shape[0] * n_bins
        else:
            raise TypeError(
                f"observation_space must be MultiBinary((T, C)) spike blocks or a 1-d Box of scaled values, "
                f"got {observation_space!r}"
            )
        sizes = [n_inputs, *(int(size) for size in hidden)]
        self.alpha = None if alpha is None else float(alpha)
        self.layers = nn.ModuleList(
            nn.Linear(n_in, n_out, bias=i > 0 or alpha is None)
            for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes))
        )
        grad = spike_surrogate(surrogate, slope)
        options = {"spike_grad": grad, "reset_mechanism": reset, "reset_delay": reset != "zero"}
        self.neurons = nn.ModuleList(
            snn.Synaptic(alpha=self.alpha, beta=b, threshold=t, **options)
            if i == 0 and alpha is not None
            else snn.Leaky(beta=b, threshold=t, **options)
            for i, (b, t) in enumerate(zip(betas, thresholds, strict=True))
        )
        self.readout = readout
        self.reset = reset
        self.record = False
        """When set, :attr:`last_spikes` keeps each layer's spikes ``(B, T, N)`` of the last forward."""
        self.last_spikes: list[torch.Tensor] = []
        self.last_input = torch.empty(0)
        """When recording, the spikes entering the first layer ``(B, T, C)`` (from the encoder if learnable)."""

    @property
    def state_sizes(self) -> list[int]:
        """The sizes of the states :meth:`run_layers` carries: each layer's, then the synaptic current's if any."""
        sizes = [layer.out_features for layer in self.layers]
        return sizes if self.alpha is None else [*sizes, sizes[0]]

    @property
    def nir_exact(self) -> bool:
        """Whether every part of the dynamics is an NIR primitive (:data:`NIR_EXACT`, no learnable encoder)."""
        return self.reset == "zero" and self.readout == "spike_count" and self.encoder is None

    def spike_inputs(self, observations: torch.Tensor) -> torch.Tensor:
        """The spikes ``(B, T, C)`` entering the first layer: the spike blocks, or the learnable encoder's."""
        return self.encoder(observations.float()) if self.encoder is not None else observations.float()

    def run_layers(
        self, inputs: torch.Tensor, states: Sequence[LayerState] | None = None, starts: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, list[LayerState]]:
        """The last layer's spikes and membranes ``(B, S, N)`` for input spikes ``(B, S, C)``, and each layer's
        state after the last sub-step.

        ``states`` (one ``(membranes, spikes)`` pair ``(B, N_l)`` per layer, then the synaptic current's
        ``(current, zeros)`` if :attr:`alpha` is set: :attr:`state_sizes`; ``None``: zeros) and ``starts``
        (``(B, L)``, zeroing the state before each marked block of ``S // L`` sub-steps) carry the network
        across calls, as :func:`~spikegym.rl.leaky_scan.leaky_scan` carries one layer.
        """
        x, membranes = inputs, torch.empty(0)
        recorded, final, synapse = [], [], []
        for i, (layer, neuron) in enumerate(zip(self.layers, self.neurons, strict=True)):
            current = spike_linear(x, layer.weight, layer.bias)  # event-driven where few inputs spike
            if isinstance(neuron, snn.Synaptic):
                current = _synaptic_current(neuron, current, None if states is None else states[-1], starts)
                synapse.append((current[:, -1], torch.zeros_like(current[:, -1])))
            # neurons built in __init__ with options leaky_layer runs
            x, membranes = _run_leaky(neuron, current, None if states is None else states[i], starts)
            final.append((membranes[:, -1], x[:, -1]))
            if self.record:
                recorded.append(x.detach())
        final.extend(synapse)
        if self.record:
            self.last_spikes = recorded
            self.last_input = inputs.detach()
        return x, membranes, final

    def read_out(self, spikes: torch.Tensor, membranes: torch.Tensor) -> torch.Tensor:
        """Features ``(B, N)`` from the last layer's spikes and membranes over one window ``(B, T, N)``."""
        if self.readout == "spike_count":
            return spikes.mean(dim=1)
        if self.readout == "last_membrane":
            return membranes[:, -1]
        return membranes.mean(dim=1)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """Features ``(B, hidden[-1])`` for observations ``(B, T, C)`` (or ``(B, F)`` scaled values)."""
        spikes, membranes, _ = self.run_layers(self.spike_inputs(observations))
        return self.read_out(spikes, membranes)
