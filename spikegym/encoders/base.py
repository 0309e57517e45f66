"""The encoder protocol: every encoder is a stateful stream filter.

Like ``scipy.signal.lfilter(b, a, x, zi)``, an encoder takes a signal and a
state and returns spikes and the new state::

    spikes, state = encoder.encode(signal, state)
    recon, state = encoder.decode(spikes, state)

Encoding a signal whole or in chunks, passing the state along, gives the
same spikes. Signals are float ``(T, *batch, F)``: time first, features last.
Spikes are ``int8`` of shape ``(T, *batch, *spike_shape)``, where
``spike_shape`` is ``(F,)`` for most encoders and ``(F, n_bins)`` for
population coding.

Every encoder scales its input with explicit per-feature bounds ``low`` and
``high`` (given, or fitted once with :meth:`SpikeEncoder.fit`) into ``[0, 1]``,
clipping values outside; it never scales by the batch being encoded.
Parameters that are not integers are per feature, held as buffers, and are
given in these scaled units (a step-forward threshold of 0.05 is 5% of the
range).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple

import numba
import numpy as np
import torch
from torch import nn

from spikegym.encoders import _kernels
from spikegym.encoders.search import SearchSpace, SignalStats

ArrayLike = torch.Tensor | np.ndarray
FeatureValues = float | Sequence[float] | np.ndarray | torch.Tensor


NUMBERS = "a number or a sequence of numbers"


def is_real_number(value: Any) -> bool:
    """Whether ``value`` is a real number: an int or float (numpy's too), not a bool, str or complex.

    >>> is_real_number(0.5), is_real_number(np.float32(0.5)), is_real_number(True), is_real_number("0.5")
    (True, True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _real_numbers(name: str, value: Any, whole: Any) -> None:
    """Raise a ``TypeError`` unless ``value`` (part of the argument ``whole``) holds only real numbers."""
    if isinstance(value, torch.Tensor | np.ndarray):
        kind = value.dtype.kind if isinstance(value, np.ndarray) else _torch_kind(value.dtype)
        if kind in "fiu":
            return
        if kind != "O":
            raise TypeError(f"{name} must be {NUMBERS}, got {whole!r} (dtype {value.dtype})")
        value = value.tolist()
    if isinstance(value, list | tuple):
        for element in value:
            _real_numbers(name, element, whole)
    elif not is_real_number(value):
        part = "" if value is whole else f": {value!r} is a {type(value).__name__}"
        raise TypeError(f"{name} must be {NUMBERS}, got {whole!r} ({type(whole).__name__}){part}")


def _torch_kind(dtype: torch.dtype) -> str:
    """The numpy kind letter of a torch dtype (``b`` bool, ``c`` complex, ``f`` float, ``i``/``u`` integer)."""
    if dtype == torch.bool:
        return "b"
    if dtype.is_complex:
        return "c"
    if dtype.is_floating_point:
        return "f"
    return "u" if dtype == torch.uint8 else "i"


def feature_values(
    name: str,
    value: FeatureValues,
    n_features: int,
    allowed: str,
    ok: Callable[[np.ndarray], np.ndarray],
) -> torch.Tensor:
    """Broadcast a scalar or per-feature parameter to ``(n_features,)`` and check it.

    ``value`` must hold real numbers only: a string (``"0.05"``) or a bool is
    refused, not converted. ``ok`` maps the values to a boolean mask of valid
    entries; ``allowed`` says in words what is valid, for the error message.

    >>> feature_values("threshold", 0.1, 3, "> 0", lambda v: v > 0)
    tensor([0.1000, 0.1000, 0.1000])
    """
    _real_numbers(name, value, value)
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or (array.ndim != 0 and array.shape != (n_features,)):
        shape = "a ragged sequence" if array is None else f"shape {array.shape}"
        raise ValueError(
            f"{name} must be a scalar or hold one value per feature (n_features={n_features}), got {shape}: {value!r}"
        )
    if array.ndim == 0:
        array = np.full(n_features, float(array))
    bad = ~(np.isfinite(array) & ok(array))
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be {allowed}, got {float(array[index])!r} for feature {index}")
    return torch.tensor(array, dtype=torch.get_default_dtype())


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """Return the one of ``choices`` that ``value`` is (a choice of the same type, equal), else raise a ``ValueError``.

    >>> check_choice("mode", "poisson", ("deterministic", "poisson"))
    'poisson'
    """
    for choice in choices:
        same_type = isinstance(value, type(choice)) and isinstance(value, bool) == isinstance(choice, bool)
        if same_type and value == choice:
            return choice
    raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` as a ``bool`` if it is one (Python's or numpy's), else raise a ``TypeError``.

    Strings are refused, as ``bool("false")`` is ``True``; so are ``0`` and ``1``.

    >>> check_bool("inverted", np.bool_(True))
    True
    """
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a bool (True or False), got {value!r} ({type(value).__name__})")
    return bool(value)


def check_int(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` if it is an integer of at least ``minimum``, else raise."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


class SpikeEncoder(nn.Module):
    """Base class of the encoders: validation, scaling and the tensor API.

    A subclass sets :attr:`name`, :attr:`state_type` and
    :attr:`decode_state_type` and implements the numpy-level rule in
    :meth:`_initial_state`, :meth:`_initial_decode_state`, :meth:`_encode` and
    :meth:`_decode`, which see signals as ``(T, N)`` arrays (raw with the
    bounds to scale them by, or scaled), and the torch rule of the CUDA path
    in :meth:`_encode_tensor`.

    :param n_features: number of features ``F`` (the last axis of a signal).
    :param low: per-feature value that scales to 0.
    :param high: per-feature value that scales to 1.
    """

    name: ClassVar[str]
    state_type: ClassVar[type[NamedTuple]]
    decode_state_type: ClassVar[type[NamedTuple]]
    checked_attributes: ClassVar[Mapping[str, Callable[[str, Any], Any]]] = MappingProxyType({})
    """Plain attributes checked whenever they are set, by name: ``check(name, value)`` returns the value to keep."""

    window_carries_value: ClassVar[bool] = False
    """Whether one ``T``-step window of spikes, decoded alone from a fresh decoder state, carries the value,
    whatever the parameters and ``T``: what a stateless policy, which resets its membranes at every
    observation while the encoder's state runs on, can read.

    Rate and population windows do. For the others it depends on :attr:`window_parameters` and ``T``
    (:meth:`window_shortfall`): step-forward windows carry only the change since the last window, LIF
    windows do once the leak forgets the unknown start within a window, BSA's once its filter fits in a
    window, PWM's when a window holds whole carrier periods. ``tests/encoders/test_window_value.py``
    measures every case.
    """
    window_parameters: ClassVar[tuple[str, ...]] = ()
    """The parameters on which it depends whether a window alone carries the value."""

    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, n_features: int, *, low: FeatureValues = 0.0, high: FeatureValues = 1.0) -> None:
        super().__init__()
        self.n_features = check_int("n_features", n_features, 1)
        anything: Callable[[np.ndarray], np.ndarray] = lambda v: np.ones(v.shape, bool)  # noqa: E731
        self.register_buffer("low", feature_values("low", low, n_features, "finite", anything))
        self.register_buffer("high", feature_values("high", high, n_features, "finite", anything))
        self._check_bounds(self.low.numpy(), self.high.numpy())
        self._state_templates: dict[tuple[type, tuple[int, ...]], tuple[tuple[Any, np.dtype], ...]] = {}
        self._arrays: dict[str, tuple[torch.Tensor, int, np.ndarray]] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        check = self.checked_attributes.get(name)
        super().__setattr__(name, value if check is None else check(name, value))
        if name in self.__dict__.get("_buffers", ()):
            self._forget_state_templates()
        self.__dict__["_epoch"] = self.__dict__.get("_epoch", 0) + 1

    def _apply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> SpikeEncoder:
        """``.to()``, ``.double()``, ...: the buffers may change dtype, and with them the states' dtypes."""
        result = super()._apply(fn, *args, **kwargs)
        self._forget_state_templates()
        self.__dict__["_epoch"] = self.__dict__.get("_epoch", 0) + 1
        return result

    def _forget_state_templates(self) -> None:
        templates = self.__dict__.get("_state_templates")
        if templates is not None:
            templates.clear()
        self.__dict__.pop("_unit", None)

    # ----------------------------------------------------------------- shape
    @property
    def spike_shape(self) -> tuple[int, ...]:
        """Trailing shape of the spikes for one time step and batch entry."""
        return (self.n_features,)

    @property
    def signed(self) -> bool:
        """Whether spikes take values in ``{-1, 0, 1}`` rather than ``{0, 1}``."""
        return False

    @property
    def stochastic(self) -> bool:
        """Whether the spikes depend on a seed (a stream's key), not only on the signal."""
        return False

    @property
    def value_set(self) -> tuple[int, ...]:
        """The values a spike can take."""
        return (-1, 0, 1) if self.signed else (0, 1)

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}"

    def window_shortfall(self, substeps: int) -> str | None:
        """Why one window of ``substeps`` steps, decoded alone from a fresh decoder state, misses the value
        with these parameters; ``None`` when it carries it (a stateless policy can read this encoder).

        >>> from spikegym.encoders import make
        >>> make("rate", n_features=2).window_shortfall(8) is None
        True
        >>> make("pwm", n_features=1, frequency=0.1).window_shortfall(8)
        'its carrier period, 1/frequency = 10 steps, does not fit a whole number of times in the T=8 window'
        """
        check_int("substeps", substeps, 1)
        if self.window_carries_value:
            return None
        return self._window_shortfall(substeps)

    def _window_shortfall(self, substeps: int) -> str | None:
        """:meth:`window_shortfall` of an encoder not declared :attr:`window_carries_value`."""
        return f"the {self.name} encoder does not declare that a window alone carries the value"

    # ---------------------------------------------------------------- tuning
    @classmethod
    def search_space(cls, stats: SignalStats, **fixed: Any) -> SearchSpace:
        """The per-feature parameters the tuner searches, with ranges scaled to a signal's ``stats``.

        ``fixed`` are the parameters held fixed while tuning (which some
        ranges depend on, e.g. the number of population bins).
        """
        raise NotImplementedError

    @classmethod
    def tuning_defaults(cls, substeps: int) -> dict[str, Any]:
        """Parameters held fixed while tuning unless the user sets them (``substeps`` is ``T``)."""
        return {}

    # --------------------------------------------------------------- scaling
    def _check_bounds(self, low: np.ndarray, high: np.ndarray) -> None:
        """Raise unless ``high > low`` with a finite ``high - low`` in the bounds' dtype, for every feature."""
        with np.errstate(over="ignore", invalid="ignore"):
            span = high - low
        rules = (
            ("high must be greater than low", ~(high > low)),
            (f"high - low must be finite in the encoder's {low.dtype}", ~np.isfinite(span)),
        )
        for rule, bad in rules:
            if bad.any():
                j = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"{rule} for every feature, got low={low[j].item()!r} and high={high[j].item()!r} for feature {j}"
                )

    def fit(self, signal: ArrayLike) -> SpikeEncoder:
        """Set ``low`` and ``high`` to the signal's per-feature minimum and maximum.

        A constant feature gets the range ``[c - 0.5, c + 0.5]`` (wider where
        the encoder's dtype cannot tell ``c + 0.5`` from ``c``), so nothing
        divides by zero. Returns the encoder; a signal it cannot fit (not
        finite, or a range beyond its dtype) raises and leaves it unchanged.

        >>> from spikegym.encoders import make
        >>> enc = make("sf", n_features=1).fit(torch.tensor([[2.0], [4.0]]))
        >>> enc.low.item(), enc.high.item()
        (2.0, 4.0)
        """
        x, original, _ = self._signal_array(signal, "signal")
        finite = np.isfinite(x)
        if not finite.all():
            self._raise_not_finite(x, original, "signal", int(np.argmin(finite)))
        flat = x.reshape(-1, self.n_features)
        low, high = flat.min(axis=0), flat.max(axis=0)
        constant = high <= low
        half = np.maximum(0.5, 2 * np.spacing(np.abs(low)))
        with np.errstate(over="ignore"):
            low, high = np.where(constant, low - half, low), np.where(constant, high + half, high)
        self._check_bounds(low, high)
        self.low.copy_(torch.from_numpy(low))
        self.high.copy_(torch.from_numpy(high))
        return self

    def _np(self, name: str) -> np.ndarray:
        """The buffer ``name`` as a numpy array (a view on the CPU, a copy elsewhere).

        Cached until the buffer is replaced (``.to()``, assignment) or changed
        in place, so the per-call cost on the hot path is a dictionary lookup.
        """
        tensor = self._buffers[name]
        cached = self._arrays.get(name)
        if cached is not None and cached[0] is tensor and cached[1] == tensor._version:
            return cached[2]
        self._check_buffer_dtype(name, tensor)
        array = tensor.detach().cpu().numpy()
        self._arrays[name] = (tensor, tensor._version, array)
        return array

    def _check_buffer_dtype(self, name: str, tensor: torch.Tensor) -> None:
        """The kernels compute in float32 or float64, with every float buffer in the dtype of ``low``."""
        if not tensor.is_floating_point():
            return
        if tensor.dtype not in (torch.float32, torch.float64):
            raise TypeError(
                f"the {self.name} encoder computes in float32 or float64, but its buffer {name} is {tensor.dtype}: "
                "convert the encoder with .float() or .double()"
            )
        if tensor.dtype != self.low.dtype:
            raise TypeError(
                f"the {self.name} encoder's buffer {name} is {tensor.dtype} but low is {self.low.dtype}: "
                "convert the whole encoder with .float() or .double()"
            )

    @property
    def np_dtype(self) -> np.dtype:
        """The numpy dtype the encoder computes in (its buffers' dtype)."""
        return self._np("low").dtype

    # ------------------------------------------------------------ validation
    def _signal_array(
        self, signal: ArrayLike, argument: str, time_axis: bool = True
    ) -> tuple[np.ndarray, np.ndarray, torch.device]:
        """``(x, original, device)``: the signal ``(T, *batch, F)`` in the encoder's dtype, as given, and its device.

        Without ``time_axis`` the argument is one sample ``(*batch, F)``, given a time axis of length 1 here.
        """
        if isinstance(signal, torch.Tensor):
            device = signal.device
            array = signal.detach().cpu().numpy()
        elif isinstance(signal, np.ndarray):
            device, array = torch.device("cpu"), signal
        else:
            raise TypeError(f"{argument} must be a torch.Tensor or numpy.ndarray, got {type(signal).__name__}")
        self._check_signal(array.shape, array.dtype.kind, argument, time_axis, array.dtype)
        original = array if time_axis else array[None]
        dtype = self.np_dtype
        if original.dtype.kind != "f" or original.dtype.itemsize <= dtype.itemsize:
            return np.ascontiguousarray(original, dtype=dtype), original, device
        narrowed = np.empty(original.shape, dtype)
        _kernels.narrow(np.ascontiguousarray(original).reshape(-1), narrowed.reshape(-1))
        return narrowed, original, device

    def _check_signal(
        self, shape: tuple[int, ...], kind: str, argument: str, time_axis: bool = True, dtype: Any = None
    ) -> None:
        """Raise unless a signal of this ``shape`` and dtype ``kind`` fits: ``(T, *batch, F)`` (or ``(*batch, F)``
        without ``time_axis``), at least one step, real numbers."""
        expected = "(T, *batch, F)" if time_axis else "(*batch, F)"
        if len(shape) < (2 if time_axis else 1) or shape[-1] != self.n_features:
            raise ValueError(
                f"{argument} must have shape {expected} with F = n_features = {self.n_features}, "
                f"got shape {tuple(shape)}"
            )
        if time_axis and shape[0] == 0:
            raise ValueError(f"{argument} must have at least one time step, got shape {tuple(shape)}")
        if kind not in "fiu":
            raise TypeError(f"{argument} must hold real numbers, got dtype {dtype}")

    def _raise_not_finite(
        self, x: np.ndarray, original: np.ndarray, argument: str, flat_index: int, time_axis: bool = True
    ) -> None:
        """Name the first value of ``x`` that is not finite, as the caller gave it (``original``), by its index:
        time step (if ``time_axis``), batch index (if any) and feature."""
        index = tuple(int(i) for i in np.unravel_index(flat_index, x.shape))
        given = original[index].item()
        shown = index if time_axis else index[1:]
        parts = [f"time step {index[0]}"] if time_axis else []
        if len(index) > 2:
            parts.append(f"batch index {index[1:-1]}")
        parts.append(f"feature {index[-1]}")
        beyond = f", beyond the range of the encoder's {x.dtype}" if math.isfinite(given) else ""
        raise ValueError(f"{argument} must be finite, got {given!r} at index {shown} ({', '.join(parts)}){beyond}")

    def _scaled(
        self, x: np.ndarray, argument: str, original: np.ndarray | None = None, time_axis: bool = True
    ) -> np.ndarray:
        """``x`` scaled into ``[0, 1]`` as a ``(T, N)`` array; rejects NaN/inf, naming the value in ``original``."""
        flat = x.reshape(x.shape[0], -1)
        u = np.empty_like(flat)
        bad = _kernels.normalize(flat, self._np("low"), self._np("high"), u)
        if bad >= 0:
            self._raise_not_finite(x, x if original is None else original, argument, bad, time_axis)
        return u

    def _unscaled(self, u: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        low = self._np("low")
        return u.reshape(shape) * (self._np("high") - low) + low

    def _spike_array(self, spikes: ArrayLike) -> tuple[np.ndarray, torch.device]:
        if isinstance(spikes, torch.Tensor):
            device = spikes.device
            array = spikes.detach().cpu().numpy()
        elif isinstance(spikes, np.ndarray):
            device, array = torch.device("cpu"), spikes
        else:
            raise TypeError(f"spikes must be a torch.Tensor or numpy.ndarray, got {type(spikes).__name__}")
        tail = self.spike_shape
        if array.ndim < 1 + len(tail) or tuple(array.shape[array.ndim - len(tail) :]) != tail:
            raise ValueError(
                f"spikes must have shape (T, *batch, {', '.join(map(str, tail))}), got shape {tuple(array.shape)}"
            )
        if array.shape[0] == 0:
            raise ValueError(f"spikes must have at least one time step, got shape {tuple(array.shape)}")
        if array.dtype.kind not in "iub":
            raise TypeError(f"spikes must have an integer or bool dtype (int8 from encode), got {array.dtype}")
        low, high = self.value_set[0], self.value_set[-1]
        if array.dtype != np.bool_ and array.size and (array.min() < low or array.max() > high):
            bad = np.flatnonzero((array < low) | (array > high))[0]
            index = tuple(int(i) for i in np.unravel_index(bad, array.shape))
            raise ValueError(
                f"spikes of the {self.name} encoder must take values in {set(self.value_set)}, "
                f"got {array[index]} at index {index}"
            )
        return np.ascontiguousarray(array, dtype=np.int8), device

    def _state_arrays(self, state: Any, state_type: type[NamedTuple], batch_shape: tuple[int, ...]) -> Any:
        """Copies of a caller's state as numpy arrays, checked against this encoder: type, shapes and dtypes
        (a state in another dtype would run the kernel in that dtype and break chunk invariance)."""
        if not isinstance(state, state_type):
            raise TypeError(
                f"state must be a {state_type.__name__} from this {self.name} encoder, got {type(state).__name__}"
            )
        key = (state_type, batch_shape)
        if key not in self._state_templates:
            template = self._initial_state_for(state_type, batch_shape)
            self._state_templates[key] = tuple((np.shape(field), np.asarray(field).dtype) for field in template)
        arrays = []
        for field, value, (shape, dtype) in zip(state_type._fields, state, self._state_templates[key], strict=True):
            array = value.numpy(force=True) if isinstance(value, torch.Tensor) else np.asarray(value)
            if array.shape != shape:
                raise ValueError(
                    f"state.{field} has shape {array.shape}, but this {self.name} encoder with "
                    f"batch shape {batch_shape} needs {shape}: was the state made for another signal?"
                )
            if array.dtype != dtype:
                raise TypeError(
                    f"state.{field} has dtype {array.dtype}, but this {self.name} encoder needs {dtype}: "
                    "was the state made by an encoder of another dtype?"
                )
            arrays.append(array.copy())
        return state_type(*arrays)

    def _initial_state_for(self, state_type: type[NamedTuple], batch_shape: tuple[int, ...]) -> Any:
        if state_type is self.state_type:
            n = math.prod(batch_shape) * self.n_features
            return self._initial_state(np.full(n, 0.5, self.np_dtype), batch_shape)
        return self._initial_decode_state(None, batch_shape)

    @staticmethod
    def _state_tensors(state: Any, device: torch.device) -> Any:
        return type(state)(*[_tensor(field, device) for field in state])

    # -------------------------------------------------------------- the API
    def encode(self, signal: ArrayLike, state: Any | None = None) -> tuple[torch.Tensor, Any]:
        """Encode a ``(T, *batch, F)`` signal into ``int8`` spikes.

        :param signal: float tensor or array, time first, features last.
        :param state: the state returned by the previous call on the same
            stream, or ``None`` to start (from the first sample where the
            encoder tracks a value).
        :return: ``(spikes, state)``; spikes on the signal's device.
        """
        if isinstance(signal, torch.Tensor) and signal.device.type != "cpu":
            return self.encode_tensor(signal, state)
        x, original, device = self._signal_array(signal, "signal")
        batch_shape = tuple(x.shape[1:-1])
        if state is None:
            arrays = self._initial_state(self._scaled(x[:1], "signal", original[:1])[0], batch_shape)
        else:
            arrays = self._state_arrays(state, self.state_type, batch_shape)
        spikes = self._encode_checked(x, original, arrays)
        return _tensor(spikes.reshape(x.shape[:-1] + self.spike_shape), device), self._state_tensors(arrays, device)

    def _encode_checked(self, x: np.ndarray, original: np.ndarray, arrays: Any) -> np.ndarray:
        """Spikes of the raw signal ``x`` (scaled inside the kernel); a value that is not finite is named as
        ``original`` holds it."""
        spikes, n_bad = self._encode(x.reshape(x.shape[0], -1), arrays, self._np("low"), self._np("high"))
        if n_bad:
            self._scaled(x, "signal", original)
        return spikes

    def encode_tensor(self, signal: torch.Tensor, state: Any | None = None) -> tuple[torch.Tensor, Any]:
        """:meth:`encode` by torch operations on the signal's device, one step of the rule at a time over the
        whole batch: the path of CUDA tensors, which stay on their device.

        It gives the spikes and state that :meth:`encode` gives on the CPU, bit
        for bit (the rules use only operations that round the same everywhere).
        Only the first sample travels to the CPU, to start a stream's state.

        >>> from spikegym.encoders import make
        >>> x = torch.rand(20, 3, 2)
        >>> enc = make("sf", 2, threshold=0.1)
        >>> torch.equal(enc.encode_tensor(x)[0], enc.encode(x)[0])
        True
        """
        if not isinstance(signal, torch.Tensor):
            raise TypeError(f"signal must be a torch.Tensor, got {type(signal).__name__}")
        self._check_signal(tuple(signal.shape), _torch_kind(signal.dtype), "signal", dtype=signal.dtype)
        device = signal.device
        x = signal.detach().to(self.low.dtype)
        if not bool(torch.isfinite(x).all()):
            x_cpu, original, _ = self._signal_array(signal.detach().cpu(), "signal")
            self._scaled(x_cpu, "signal", original)
        batch_shape = tuple(x.shape[1:-1])
        if state is None:
            first, _, _ = self._first_sample(signal[0].detach().cpu())
            state = self._state_tensors(self._initial_state(first, batch_shape), device)
        else:
            state = self._device_state(state, batch_shape, device)
        buffers = {name: tensor.to(device) for name, tensor in self._buffers.items() if tensor is not None}
        low, high = buffers["low"], buffers["high"]
        u = ((x - low) / (high - low)).clamp(0.0, 1.0)
        return self._encode_tensor(u, state, buffers)

    def _device_state(self, state: Any, batch_shape: tuple[int, ...], device: torch.device) -> Any:
        """Copies of a caller's state on ``device``, checked like :meth:`_state_arrays` without leaving the
        device."""
        if not isinstance(state, self.state_type):
            raise TypeError(
                f"state must be a {self.state_type.__name__} from this {self.name} encoder, got {type(state).__name__}"
            )
        template = self._initial_state_for(self.state_type, batch_shape)
        fields = []
        for field, value, expected in zip(self.state_type._fields, state, template, strict=True):
            tensor = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))
            dtype = np.asarray(expected).dtype
            if tuple(tensor.shape) != np.shape(expected):
                raise ValueError(
                    f"state.{field} has shape {tuple(tensor.shape)}, but this {self.name} encoder with "
                    f"batch shape {batch_shape} needs {np.shape(expected)}: was the state made for another signal?"
                )
            if str(tensor.dtype).removeprefix("torch.") != dtype.name:
                raise TypeError(
                    f"state.{field} has dtype {tensor.dtype}, but this {self.name} encoder needs {dtype}: "
                    "was the state made by an encoder of another dtype?"
                )
            fields.append(tensor.to(device, copy=True))
        return self.state_type(*fields)

    def decode(self, spikes: ArrayLike, state: Any | None = None) -> tuple[torch.Tensor, Any]:
        """Decode spikes back into a ``(T, *batch, F)`` signal estimate.

        :param spikes: integer tensor or array as returned by :meth:`encode`.
        :param state: the decoder state of the previous call, ``None`` to start
            from the encoder's default, or :meth:`initial_state` of the first
            sample to mirror the encoder exactly.
        :return: ``(signal, state)``, the signal in the encoder's dtype.
        """
        s, device = self._spike_array(spikes)
        batch_shape = tuple(s.shape[1 : s.ndim - len(self.spike_shape)])
        if state is None:
            arrays = self._initial_decode_state(None, batch_shape)
        else:
            arrays = self._state_arrays(state, self.decode_state_type, batch_shape)
        u = self._decode(s.reshape(s.shape[0], -1), arrays)
        recon = self._unscaled(u, (*s.shape[: s.ndim - len(self.spike_shape)], self.n_features))
        return _tensor(recon, device), self._state_tensors(arrays, device)

    def initial_state(self, first_sample: ArrayLike) -> Any:
        """The encoder state for a stream that starts with ``first_sample`` (``(*batch, F)``)."""
        u, batch_shape, device = self._first_sample(first_sample)
        return self._state_tensors(self._initial_state(u, batch_shape), device)

    def initial_decode_state(self, first_sample: ArrayLike) -> Any:
        """The decoder state matching :meth:`initial_state` of the same sample."""
        u, batch_shape, device = self._first_sample(first_sample)
        return self._state_tensors(self._initial_decode_state(u, batch_shape), device)

    def _first_sample(self, first_sample: ArrayLike) -> tuple[np.ndarray, tuple[int, ...], torch.device]:
        """The scaled sample, flat ``(N,)``, its batch shape and its device."""
        x, original, device = self._signal_array(first_sample, "first_sample", time_axis=False)
        return self._scaled(x, "first_sample", original, time_axis=False)[0].copy(), tuple(x.shape[1:-1]), device

    def reconstruct(self, signal: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode ``signal`` and decode it again from matched initial states: ``(spikes, reconstruction)``.

        >>> from spikegym.encoders import make
        >>> x = torch.linspace(0, 1, 50).reshape(50, 1)
        >>> spikes, recon = make("sf", n_features=1, threshold=0.05).reconstruct(x)
        >>> bool((recon - x).abs().max() <= 0.05 + 1e-6)
        True
        """
        x, original, device = self._signal_array(signal, "signal")
        batch_shape = tuple(x.shape[1:-1])
        first = self._scaled(x[:1], "signal", original[:1])[0]
        spikes = self._encode_checked(x, original, self._initial_state(first.copy(), batch_shape))
        recon = self._unscaled(self._decode(spikes, self._initial_decode_state(first, batch_shape)), x.shape)
        return _tensor(spikes.reshape(x.shape[:-1] + self.spike_shape), device), _tensor(recon, device)

    def forward(self, signal: ArrayLike, state: Any | None = None) -> tuple[torch.Tensor, Any]:
        """Same as :meth:`encode`, so an encoder can sit in an ``nn.Sequential``-like pipeline."""
        return self.encode(signal, state)

    # ------------------------------------------- numpy fast path (wrappers)
    def stream_state(
        self, batch_shape: tuple[int, ...] = (), seed: int | Sequence[int] | np.ndarray | None = None
    ) -> Any:
        """Encoder state as numpy arrays for streams whose start is unknown.

        Temporal encoders start their reconstruction at the middle of the
        range, so the first samples' level is encoded, not taken as given.
        ``seed`` keys a stochastic encoder's streams: one integer for the
        batch, an array of one per stream (shaped ``batch_shape``; a stream's
        spikes then do not depend on the batch it is encoded in), or ``None``
        for the encoder's own seed.
        For the hot path of wrappers, with :meth:`stream_encode`.
        """
        n = math.prod(batch_shape) * self.n_features
        return self._initial_state(np.full(n, 0.5, self.np_dtype), batch_shape, seed)

    def stream_decode_state(self, batch_shape: tuple[int, ...] = ()) -> Any:
        """Decoder state as numpy arrays matching :meth:`stream_state` (the same mid-range start)."""
        n = math.prod(batch_shape) * self.n_features
        return self._initial_decode_state(np.full(n, 0.5, self.np_dtype), batch_shape)

    def stream_decode(self, spikes: np.ndarray, state: Any, stride: int = 1) -> np.ndarray:
        """The scaled signal decoded from flat spikes ``(T, N * channels)``, updating ``state`` in place,
        at steps ``stride - 1, 2 * stride - 1, ...`` only (``(T // stride, N)``).

        No validation, like :meth:`stream_encode`; a ``stride`` of ``substeps``
        gives one value per observation, at the end of its block.
        """
        return self._decode(spikes, state, stride)

    def stream_encode(self, scaled: np.ndarray, state: Any) -> np.ndarray:
        """Spikes ``(T, N * channels)`` for a scaled ``(T, N)`` array, updating ``state`` in place.

        No validation: the caller guarantees finite values in ``[0, 1]`` of the
        encoder's dtype and a state from :meth:`stream_state` of matching size.
        """
        return self._encode(scaled, state, *self._unit_bounds())[0]

    def stream_encoder(self, state: Any) -> Callable[[np.ndarray], np.ndarray]:
        """:meth:`stream_encode` for the stream ``state`` as a function of the scaled block alone: the per-step
        call of a wrapper, with the kernel, the state's arrays and the parameters looked up once.

        Parameters changed in place are read by the kernel as they are; a
        parameter or attribute set anew (assignment, ``.to()``, ``.double()``)
        is looked up again at the next call. Encoders with buffers off the CPU
        take :meth:`stream_encode` at every call.

        >>> from spikegym.encoders import make
        >>> enc = make("sf", 2, threshold=0.1)
        >>> encode = enc.stream_encoder(enc.stream_state((1,)))
        >>> encode(np.array([[0.5, 0.5], [0.7, 0.3]], np.float32)).tolist()
        [[0, 0], [1, -1]]
        """
        bound: list[Any] = [None, None]

        def encode(scaled: np.ndarray) -> np.ndarray:
            if bound[0] != self._epoch:
                bound[:] = self._epoch, self._bound_call(state)
            if bound[1] is None:
                return self.stream_encode(scaled, state)
            run, low, high, args, width = bound[1]
            spikes = np.empty((scaled.shape[0], scaled.shape[1] * width), np.int8)
            run(scaled, low, high, *args, spikes)
            return spikes

        return encode

    def _bound_call(self, state: Any) -> tuple[Callable[..., int], np.ndarray, np.ndarray, tuple[Any, ...], int] | None:
        """The serial kernel, unit bounds, arguments and spike width of :meth:`stream_encoder` for ``state``;
        ``None`` when a buffer is off the CPU (its numpy copy would not follow changes made on the device)."""
        if any(tensor.device.type != "cpu" for tensor in self._buffers.values() if tensor is not None):
            return None
        serial, _, args = self._kernel_call(state)
        return (serial, *self._unit_bounds(), args, self._spike_width)

    def _unit_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds 0 and 1 in the encoder's dtype, which leave a scaled signal as it is (cached per dtype)."""
        bounds = self.__dict__.get("_unit")
        if bounds is None:
            dtype = self.np_dtype
            bounds = self.__dict__["_unit"] = (np.zeros(self.n_features, dtype), np.ones(self.n_features, dtype))
        return bounds

    # ------------------------------------------------- the rule (subclasses)
    def _initial_state(self, first: np.ndarray, batch_shape: tuple[int, ...], seed: Any = None) -> Any:
        """Encoder state arrays; ``first`` is the scaled first sample, flat ``(N,)``;
        ``seed`` keys a stochastic encoder's stream (``None``: its own seed)."""
        raise NotImplementedError

    def _initial_decode_state(self, first: np.ndarray | None, batch_shape: tuple[int, ...]) -> Any:
        """Decoder state arrays; ``first`` is ``None`` when the stream start is unknown."""
        raise NotImplementedError

    def _encode(self, x: np.ndarray, state: Any, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, int]:
        """Spikes ``(T, N * prod(spike_shape[1:]))`` for the signal ``x`` ``(T, N)`` scaled by ``low``/``high``
        in the kernel, and how many columns of ``x`` hold a value that is not finite."""
        serial, parallel, args = self._kernel_call(state)
        spikes = np.empty((x.shape[0], x.shape[1] * self._spike_width), np.int8)
        return spikes, kernel(serial, parallel, spikes.size)(x, low, high, *args, spikes)

    @property
    def _spike_width(self) -> int:
        """Spike columns per feature column: ``prod(spike_shape[1:])``."""
        return math.prod(self.spike_shape[1:])

    def _kernel_call(self, state: Any) -> tuple[Callable[..., int], Callable[..., int], tuple[Any, ...]]:
        """The encoding kernel of the rule, serial and parallel, and its arguments for the stream ``state``
        (flat views of its arrays, updated in place by the kernel) and the current parameters: every kernel
        is called as ``kernel(x, low, high, *args, spikes)``."""
        raise NotImplementedError

    def _encode_tensor(self, u: torch.Tensor, state: Any, buffers: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any]:
        """Spikes ``(T, *batch, *spike_shape)`` and the new state for the scaled signal ``u`` by torch operations,
        with the buffers on ``u``'s device."""
        raise NotImplementedError

    def _decode(self, spikes: np.ndarray, state: Any, stride: int = 1) -> np.ndarray:
        """The scaled signal for flattened spikes at every ``stride``-th step: ``(T // stride, N)``."""
        raise NotImplementedError


PARALLEL_MIN_ELEMENTS: int | None = None
"""Calls on signals of at least this many elements (``T * N``) run the ``*_parallel`` kernels, which split the
columns over numba's threads (``numba.set_num_threads``); ``None``, the default, never does. On the 2-core
development machine, shared with other work, two threads were 2-100x slower than one for every encoder
(``scripts/bench_encoders.py`` measures both); set it where cores are free and two threads measure faster."""


def kernel(serial: Callable[..., Any], parallel: Callable[..., Any], n_elements: int) -> Callable[..., Any]:
    """``parallel`` for a call of at least :data:`PARALLEL_MIN_ELEMENTS` elements when numba has more than one
    thread, else ``serial``."""
    threshold = PARALLEL_MIN_ELEMENTS
    if threshold is not None and n_elements >= threshold and numba.get_num_threads() > 1:
        return parallel
    return serial


def _tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    tensor = torch.from_numpy(array if array.flags.c_contiguous else array.copy())
    return tensor if device.type == "cpu" else tensor.to(device)


class MirroredEncoder(SpikeEncoder):
    """An encoder whose decoder is its own running reconstruction.

    Encoder and decoder share one state type and one kernel, so decoding from
    the state that encoding started from reproduces the encoder's
    reconstruction exactly. A subclass implements :meth:`_start` (the state),
    :meth:`_kernel_call` and :meth:`_run_decode` (its kernels).
    """

    def _initial_state(self, first: np.ndarray, batch_shape: tuple[int, ...], seed: Any = None) -> Any:
        return self._start(first, batch_shape)

    def _initial_decode_state(self, first: np.ndarray | None, batch_shape: tuple[int, ...]) -> Any:
        return self._start(first, batch_shape)

    def _decode(self, spikes: np.ndarray, state: Any, stride: int = 1) -> np.ndarray:
        recon = np.empty(spikes.shape, self.np_dtype)
        self._run_decode(spikes, state, recon)
        return recon if stride == 1 else recon[stride - 1 :: stride]

    def _start(self, first: np.ndarray | None, batch_shape: tuple[int, ...]) -> Any:
        """State arrays for a stream starting at the scaled ``first`` sample (``None``: unknown)."""
        raise NotImplementedError

    def _run_decode(self, spikes: np.ndarray, state: Any, recon: np.ndarray) -> None:
        """Run the decoding kernel, writing the scaled reconstruction ``recon``."""
        raise NotImplementedError
