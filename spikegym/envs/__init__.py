"""The Gymnasium side: observations of any env as spike blocks.

What is here: the observation layout (:mod:`~spikegym.envs.layout`) and its
bounds (:mod:`~spikegym.envs.bounds`), the per-env encoder configs
(:mod:`~spikegym.envs.configs`), :class:`GymnasiumEncoder` (scaling + an
encoder + the channel layout), the single and vector wrappers,
``make``/``make_vec``, and observation rollouts recorded from an env with any
policy callable (:mod:`~spikegym.envs.rollouts`).

May import: :mod:`spikegym.encoders`, gymnasium, numpy, numba, PyYAML, tqdm;
never stable-baselines3, optuna or snntorch, so that using the wrappers costs none of them.

>>> from spikegym.envs import make
>>> make("CartPole-v1").observation_space
MultiBinary((8, 32))
"""

from spikegym.envs.configs import ConfigError, EncoderConfig, load_config
from spikegym.envs.gym_encoder import GymnasiumEncoder
from spikegym.envs.layout import ObservationLayout
from spikegym.envs.registration import make, make_vec
from spikegym.envs.rollouts import Rollouts, record
from spikegym.envs.wrappers import ScaledObservationWrapper, SpikeObservationVectorWrapper, SpikeObservationWrapper

__all__ = [
    "ConfigError",
    "EncoderConfig",
    "GymnasiumEncoder",
    "ObservationLayout",
    "Rollouts",
    "ScaledObservationWrapper",
    "SpikeObservationVectorWrapper",
    "SpikeObservationWrapper",
    "load_config",
    "make",
    "make_vec",
    "record",
]
