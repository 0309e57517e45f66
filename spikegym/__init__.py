"""spikegym: spike-encoded Gymnasium observations for spiking reinforcement learning.

>>> import spikegym
>>> env = spikegym.make("CartPole-v1")
>>> observation, info = env.reset(seed=0)
>>> observation.shape, observation.dtype
((8, 32), dtype('int8'))
"""

__version__ = "0.1.0"

from spikegym.configs import EncoderConfig, load_config
from spikegym.envs import make, make_vec
from spikegym.gym_encoder import GymnasiumEncoder
from spikegym.wrappers import SpikeObservationVectorWrapper, SpikeObservationWrapper

__all__ = [
    "EncoderConfig",
    "GymnasiumEncoder",
    "SpikeObservationVectorWrapper",
    "SpikeObservationWrapper",
    "__version__",
    "load_config",
    "make",
    "make_vec",
]
