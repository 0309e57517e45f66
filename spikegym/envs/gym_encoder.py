"""GymnasiumEncoder: observation scaling + a spike encoder + the channel layout a policy sees."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from spikegym.encoders import ALIASES, SpikeEncoder, make, names
from spikegym.encoders.base import check_choice, check_int
from spikegym.envs._block_kernels import scale_block, spike_channels
from spikegym.envs.bounds import Bounds, check_config_features, resolve_bounds
from spikegym.envs.configs import EncoderConfig, is_config_path, load_config
from spikegym.envs.layout import ObservationError, ObservationLayout

StreamSeed = int | Sequence[int] | np.ndarray | None
EncoderSpec = str | Path | SpikeEncoder | EncoderConfig


class GymnasiumEncoder:
    """Turns each observation of a Gymnasium space into a ``{0, 1}`` spike block ``(substeps, C)``.

    Each observation is flattened (:class:`~spikegym.envs.layout.ObservationLayout`),
    scaled by per-feature bounds into ``[0, 1]`` (values outside are clipped and
    counted) and presented to the encoder as a chunk of ``substeps`` steps:
    held (``upsample="hold"``) or ramped linearly from the previous observation
    (``"linear"``). The encoder's state carries across observations, so temporal
    encoders encode the observation stream; :meth:`reset` starts a new stream.
    Signed spikes become two binary channels per feature, ``+`` and ``-``.

    With ``num_envs=n`` it encodes the batched observations of a vector env,
    ``(n, ...)`` in, ``(n, substeps, C)`` out, in one call per step, one
    stream per env: env ``i`` gets exactly the spikes a single-env encoder
    would give it, and :meth:`reset` can restart any subset of the streams.

    :param space: the observation space (of one env).
    :param encoder: an encoder name (built with ``params`` and the resolved
        bounds), a :class:`~spikegym.encoders.SpikeEncoder` whose ``low``/``high``
        are the bounds, or a config (:class:`~spikegym.envs.configs.EncoderConfig`,
        a ``.yaml`` path, or an env id whose config is in ``envs_configs/``),
        whose settings apply where the arguments below are not given.
    :param substeps: encoder steps per observation, ``T`` (default 8).
    :param upsample: ``"hold"`` (default) or ``"linear"``.
    :param bounds: ``(low, high)`` per feature, overriding the config's and
        the space's bounds. Otherwise a feature is bounded by the space where
        it is finite, else by the env's config, else by an estimate from a
        seeded random rollout of ``env_id`` (with a warning).
    :param env_id: the env's registered id: checked against a config's, and
        used to find bounds the space leaves open.
    :param nan_policy: ``"raise"`` on NaN/inf observations, or ``"zero"`` to
        replace them by 0 (counted in :attr:`last_nonfinite`).
    :param num_envs: ``None`` for one env, or the number of envs of a batch.

    >>> enc = GymnasiumEncoder(gym.make("CartPole-v1").observation_space, "sf", env_id="CartPole-v1")
    >>> enc.reset(np.zeros(4, np.float32), seed=0).shape, enc.channel_names[:2]
    ((8, 8), ['x[0]+', 'x[0]-'])
    """

    def __init__(
        self,
        space: gym.Space,
        encoder: EncoderSpec = "rate",
        *,
        substeps: int | None = None,
        upsample: Literal["hold", "linear"] | None = None,
        bounds: Bounds | None = None,
        env_id: str | None = None,
        nan_policy: Literal["raise", "zero"] = "raise",
        num_envs: int | None = None,
        **params: Any,
    ) -> None:
        self.layout = ObservationLayout.of(space)
        self.env_id = env_id
        self.config = as_config(encoder)
        """The config the settings came from, or ``None``."""
        if self.config is not None:
            encoder, bounds, params = self._apply_config(self.config, bounds, params)
            substeps = self.config.substeps if substeps is None else substeps
            upsample = self.config.upsample if upsample is None else upsample  # type: ignore[assignment]
        substeps = 8 if substeps is None else substeps
        upsample = "hold" if upsample is None else upsample
        self.substeps = check_int("substeps", substeps, 1)
        check_choice("upsample", upsample, ("hold", "linear"))
        check_choice("nan_policy", nan_policy, ("raise", "zero"))
        self.upsample, self.nan_policy = upsample, nan_policy
        self.num_envs = None if num_envs is None else check_int("num_envs", num_envs, 1)
        """``None`` for one env, else the batch size of the observations."""
        n_features = self.layout.n_features
        if isinstance(encoder, SpikeEncoder):
            if bounds is not None or params:
                raise ValueError("give bounds and parameters either in the encoder object or as arguments, not both")
            if encoder.n_features != n_features:
                raise ValueError(
                    f"encoder has n_features={encoder.n_features}, but the observation space has {n_features} "
                    f"features ({', '.join(self.layout.names)})"
                )
            self.encoder = encoder
        else:
            low, high = resolve_bounds(self.layout, bounds, self.env_id)
            self.encoder = make(encoder, n_features, low=low, high=high, **params)
        self._low = self.encoder.low.double().numpy()
        self._high = self.encoder.high.double().numpy()
        self.channel_names = self._channel_names()
        n = self._n_streams
        self.state: Any = None
        self._bound: tuple[Any, Callable[[np.ndarray], np.ndarray]] | None = None
        self._previous = np.zeros((n, n_features))
        self._blocks = np.zeros((n, self.substeps, self.n_channels), np.int8)
        self._steps = np.zeros(n, np.int64)
        self._clipped = np.zeros(n, np.int64)
        self._nonfinite = np.zeros(n, np.int64)
        self._spike_counts = np.zeros(n, np.int64)
        self._no_restart = np.zeros(n, np.bool_)
        self._dtype = self.encoder.np_dtype
        self._linear = upsample == "linear"
        self._zero_nonfinite = nan_policy == "zero"
        self._signed = self.encoder.signed
        self._fresh_stream = self.encoder.stream_state((1,))

    @property
    def n_channels(self) -> int:
        """Channels ``C`` of a spike block."""
        return len(self.channel_names)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The per-feature ``(low, high)`` the observations are scaled by."""
        return self._low.copy(), self._high.copy()

    @property
    def _n_streams(self) -> int:
        return 1 if self.num_envs is None else self.num_envs

    def _per_env(self, counts: np.ndarray) -> int | np.ndarray:
        return int(counts[0]) if self.num_envs is None else counts.copy()

    @property
    def steps(self) -> int | np.ndarray:
        """Observations encoded since each stream's reset, the reset's included."""
        return self._per_env(self._steps)

    @property
    def last_clipped(self) -> int | np.ndarray:
        """Values clipped to the bounds in the last observation (per env when batched)."""
        return self._per_env(self._clipped)

    @property
    def last_nonfinite(self) -> int | np.ndarray:
        """NaN/inf values replaced by 0 in the last observation (``nan_policy="zero"``)."""
        return self._per_env(self._nonfinite)

    @property
    def last_spike_count(self) -> int | np.ndarray:
        """Spikes in the last block (per env when batched)."""
        return self._per_env(self._spike_counts)

    def _channel_names(self) -> list[str]:
        names = self.layout.names
        shape = self.encoder.spike_shape
        if len(shape) == 2:
            return [f"{name}@bin{b}" for name in names for b in range(shape[1])]
        if self.encoder.signed:
            return [f"{name}{sign}" for name in names for sign in "+-"]
        return list(names)

    def _apply_config(
        self, config: EncoderConfig, bounds: Bounds | None, params: dict[str, Any]
    ) -> tuple[str, Bounds | None, dict[str, Any]]:
        """The encoder name, bounds and parameters of ``config``, with the given arguments taking precedence."""
        where = config.source or f"config for {config.env_id}"
        if self.env_id is not None and config.env_id != self.env_id:
            raise ValueError(f"{where} is for env {config.env_id!r}, but the env is {self.env_id!r}")
        check_config_features(config, self.layout)
        if bounds is None and config.low is not None:
            bounds = (config.low, config.high)
        return config.encoder, bounds, {**config.params, **params}

    # ------------------------------------------------------------- streams
    def flatten(self, observation: Any, starting: bool = False) -> np.ndarray:
        """The observation (a batch with ``num_envs``) as flat features ``(n, F)``, ``n = 1`` for one env.

        An observation outside its space's one-hot or binary values is an
        :class:`~spikegym.envs.layout.ObservationError` naming the env, the step
        (0 when ``starting`` a stream), the feature and the value.
        """
        try:
            if self.num_envs is not None:
                return self.layout.flatten_batch(observation, self.num_envs)
            x = self.layout.flatten(observation)
        except ObservationError as error:
            step = 0 if starting or self.state is None else int(self._steps[error.env or 0])
            message = f"{self._where(error.env)} returned an observation outside its space at step {step}: {error}"
            raise ObservationError(message) from None
        if x.size != self.layout.n_features:
            raise ValueError(
                f"observation has {x.size} values, but the observation space has {self.layout.n_features} "
                f"features; got shape {np.shape(observation)}"
            )
        return x.reshape(1, -1)

    def reset(self, observation: Any, seed: StreamSeed = None, mask: np.ndarray | None = None) -> np.ndarray:
        """Start new streams (episodes) and encode their first observations.

        ``seed`` keys a stochastic encoder's streams; ``None`` draws keys from
        the encoder's own seed. With ``num_envs``, ``seed`` is one integer
        (env ``i`` gets ``seed + i``, as in gymnasium's vector envs) or one per
        env, and ``mask`` (a boolean array per env) restarts only the envs it
        selects: the others keep their streams, and their blocks in the
        result are those of their last observation.
        """
        return self.reset_flat(self.flatten(observation, starting=True), seed, mask)

    def step(self, observation: Any, restart: np.ndarray | None = None, seed: StreamSeed = None) -> np.ndarray:
        """The spike block ``(substeps, C)`` of ``int8`` in ``{0, 1}`` for the next observation
        (``(num_envs, substeps, C)`` for a batch).

        With ``num_envs``, ``restart`` (a boolean array per env) marks the envs
        whose observation starts a new episode (a vector env's autoreset):
        their streams restart, keyed by ``seed`` as in :meth:`reset`, and all
        envs are still encoded in one call.
        """
        return self.step_flat(self.flatten(observation), restart, seed)

    def reset_flat(self, x: np.ndarray, seed: StreamSeed = None, mask: np.ndarray | None = None) -> np.ndarray:
        """:meth:`reset` for observations already flattened to ``(n, F)`` (see :meth:`flatten`)."""
        n = self._n_streams
        rows = np.arange(n) if mask is None else np.flatnonzero(self._check_mask("mask", mask))
        if self.state is None and len(rows) < n:
            raise RuntimeError("reset every env (mask=None) before resetting a subset")
        if len(rows) == n:
            self.state = self.encoder.stream_state((n,), self._stream_seeds(seed, rows))
            self._steps[:] = 0
            self._blocks = self._encode(x, slice(None), self.state, np.ones(n, np.bool_))
            return self._result(self._blocks)
        self._restart(rows, seed)
        sub_state = type(self.state)(*(field[rows] for field in self.state))
        blocks = self._encode(np.ascontiguousarray(x[rows]), rows, sub_state, np.ones(len(rows), np.bool_))
        for field, updated in zip(self.state, sub_state, strict=True):
            field[rows] = updated
        self._blocks = self._blocks.copy()
        self._blocks[rows] = blocks
        return self._result(self._blocks)

    def step_flat(self, x: np.ndarray, restart: np.ndarray | None = None, seed: StreamSeed = None) -> np.ndarray:
        """:meth:`step` for observations already flattened to ``(n, F)`` (see :meth:`flatten`)."""
        if self.state is None:
            raise RuntimeError("call reset(observation) before step(observation)")
        fresh = self._no_restart if restart is None else self._check_mask("restart", restart)
        if restart is not None and fresh.any():
            self._restart(np.flatnonzero(fresh), seed)
        self._blocks = self._encode(x, slice(None), self.state, fresh)
        return self._result(self._blocks)

    def decode(self, blocks: np.ndarray) -> np.ndarray:
        """What one stream's spikes say about its observations: features ``(N, F)``, one row per block.

        ``blocks`` are the ``(N, substeps, C)`` blocks of one env from its
        reset on; each row is the encoder's decoded value at the last sub-step
        of the block, in observation units (within the bounds).
        """
        blocks = np.asarray(blocks)
        if blocks.ndim != 3 or blocks.shape[1:] != (self.substeps, self.n_channels):
            raise ValueError(
                f"blocks must have shape (N, {self.substeps}, {self.n_channels}), got shape {blocks.shape}"
            )
        flat = blocks.reshape(-1, self.n_channels).astype(np.int8)
        spikes = np.ascontiguousarray(flat[:, 0::2] - flat[:, 1::2] if self._signed else flat)
        scaled = self.encoder.stream_decode(spikes, self.encoder.stream_decode_state(), self.substeps)
        return scaled * (self._high - self._low) + self._low

    # ------------------------------------------------------------ internals
    def _check_mask(self, name: str, mask: np.ndarray) -> np.ndarray:
        if self.num_envs is None:
            raise ValueError(f"{name} selects envs of a batch, but this encoder has num_envs=None")
        mask = np.asarray(mask)
        if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
            raise ValueError(
                f"{name} must be a boolean array of shape ({self.num_envs},), got {mask.dtype} of shape {mask.shape}"
            )
        return mask

    def _stream_seeds(self, seed: StreamSeed, rows: np.ndarray) -> np.ndarray | None:
        """One stream seed per env of ``rows``, or ``None`` for the encoder's own seed."""
        if seed is None:
            return None
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return int(seed) + rows if self.num_envs is not None else np.array([int(seed)])
        seeds = np.asarray(seed)
        if seeds.shape != (self._n_streams,) or seeds.dtype.kind not in "iu":
            raise ValueError(f"seed must be None, an integer or one integer per env ({self._n_streams}), got {seed!r}")
        return seeds[rows]

    def _restart(self, rows: np.ndarray, seed: StreamSeed) -> None:
        """Replace the state of the streams ``rows`` by fresh streams.

        A deterministic encoder's fresh stream does not depend on the seed: it
        is copied from a template made once, the cheap path of autoresets.
        """
        if self.encoder.stochastic:
            fresh = self.encoder.stream_state((len(rows),), self._stream_seeds(seed, rows))
            for field, value in zip(self.state, fresh, strict=True):
                field[rows] = value
        else:
            for field, value in zip(self.state, self._fresh_stream, strict=True):
                field[rows] = value[0]
        self._steps[rows] = 0

    def _stream_encoder(self, state: Any) -> Callable[[np.ndarray], np.ndarray]:
        """The encoder's per-step call for ``state`` (:meth:`~spikegym.encoders.SpikeEncoder.stream_encoder`),
        made again when the state is replaced (a reset of every env, or a state assigned by the caller)."""
        if self._bound is None or self._bound[0] is not state:
            self._bound = state, self.encoder.stream_encoder(state)
        return self._bound[1]

    def _encode(self, x: np.ndarray, rows: slice | np.ndarray, state: Any, hold: np.ndarray) -> np.ndarray:
        """Blocks ``(k, T, C)`` for the flat observations ``x`` ``(k, F)`` of the envs ``rows``
        (``slice(None)`` for all: the hot path, which writes the counters in place).

        ``hold[i]`` holds the observation of row ``i`` over the block even
        when upsampling is linear (the first observation of a stream).
        """
        every = isinstance(rows, slice)
        counters = (self._previous, self._clipped, self._nonfinite, self._spike_counts, self._steps)
        previous, clipped, nonfinite, counts, steps = counters if every else (a[rows] for a in counters)
        block = np.empty((self.substeps, x.size), self._dtype)
        bad = scale_block(
            x, self._low, self._high, previous, self._linear, hold, self._zero_nonfinite, block, clipped, nonfinite,
            steps,
        )  # fmt: skip
        if bad >= 0:
            self._raise_nonfinite(x, np.arange(self._n_streams)[rows], bad)
        spikes = self._stream_encoder(state)(block) if every else self.encoder.stream_encode(block, state)
        out = np.empty((x.shape[0], self.substeps, self.n_channels), np.int8)
        spike_channels(spikes, self._signed, out, counts)
        if not every:
            self._previous[rows], self._clipped[rows], self._nonfinite[rows] = previous, clipped, nonfinite
            self._spike_counts[rows], self._steps[rows] = counts, steps
        return out

    def _raise_nonfinite(self, x: np.ndarray, rows: np.ndarray, flat_index: int) -> None:
        i, feature = divmod(flat_index, self.layout.n_features)
        env = int(rows[i])
        where = self._where(env if self.num_envs is not None else None)
        raise ValueError(
            f"{where} returned a non-finite observation at step {int(self._steps[env])}: "
            f"{self.layout.names[feature]} = {x[i, feature]}; pass nan_policy='zero' to replace such values by 0"
        )

    def _where(self, env: int | None = None) -> str:
        """The env (and sub-env) an observation came from, for error messages."""
        where = f"env {self.env_id}" if self.env_id else "the env"
        return where if env is None else f"{where} (sub-env {env})"

    def _result(self, blocks: np.ndarray) -> np.ndarray:
        return blocks[0] if self.num_envs is None else blocks


def as_config(encoder: EncoderSpec) -> EncoderConfig | None:
    """The config that ``encoder`` names, or ``None`` for an encoder object or name."""
    if isinstance(encoder, EncoderConfig):
        return encoder
    if is_config_path(encoder):
        return load_config(encoder)
    if isinstance(encoder, SpikeEncoder):
        return None
    if not isinstance(encoder, str):
        raise TypeError(
            f"encoder must be an encoder name, a SpikeEncoder, an EncoderConfig, a .yaml path or an env id, "
            f"got {type(encoder).__name__}"
        )
    if encoder in names() or encoder in ALIASES:
        return None
    try:
        return load_config(encoder)
    except FileNotFoundError as error:
        raise ValueError(
            f"encoder {encoder!r} is neither an encoder ({names()}, aliases {sorted(ALIASES)}) "
            f"nor a .yaml config path, and as an env id: {error}"
        ) from None
