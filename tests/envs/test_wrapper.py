"""SpikeObservationWrapper and GymnasiumEncoder on real Gymnasium envs."""

from __future__ import annotations

import logging
import pickle

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from spikegym.encoders import make
from spikegym.envs.gym_encoder import GymnasiumEncoder
from spikegym.envs.wrappers import SpikeObservationVectorWrapper, SpikeObservationWrapper
from tests.helpers import ENCODER_NAMES, seeded_rollout

CARTPOLE_BOUNDS = ([-2.4, -3.0, -0.21, -3.5], [2.4, 3.0, 0.21, 3.5])


def wrapped(name: str, **kwargs: object) -> SpikeObservationWrapper:
    return SpikeObservationWrapper(gym.make("CartPole-v1"), name, bounds=CARTPOLE_BOUNDS, **kwargs)


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_check_env_passes_for_every_encoder(name: str) -> None:
    env = wrapped(name, mode="poisson") if name in ("rate", "population") else wrapped(name)
    check_env(env, skip_render_check=True)


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_observations_are_binary_blocks_in_the_space(name: str) -> None:
    env = wrapped(name, substeps=6)
    for observation in seeded_rollout(env, seed=1, n_steps=50):
        assert observation.dtype == np.int8 and observation.shape == env.observation_space.shape
        assert env.observation_space.contains(observation)


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_same_seed_same_spikes(name: str) -> None:
    params = {"mode": "poisson"} if name in ("rate", "population") else {}
    first = seeded_rollout(wrapped(name, **params), seed=4, n_steps=80)
    second = seeded_rollout(wrapped(name, **params), seed=4, n_steps=80)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_reset_restores_the_initial_state_exactly() -> None:
    env = wrapped("lif")
    first = seeded_rollout(env, seed=2, n_steps=30)
    again = seeded_rollout(env, seed=2, n_steps=30)  # same env object, state carried over from the first run
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_poisson_spikes_do_not_touch_the_env_rng() -> None:
    plain = gym.make("CartPole-v1")
    plain.reset(seed=5)
    spiking = wrapped("rate", mode="poisson")
    spiking.reset(seed=5)
    assert plain.unwrapped.np_random.random() == spiking.unwrapped.np_random.random()


def test_signed_encoders_split_into_up_and_down_channels() -> None:
    env = wrapped("sf")
    assert env.gym_encoder.channel_names == ["x[0]+", "x[0]-", "x[1]+", "x[1]-", "x[2]+", "x[2]-", "x[3]+", "x[3]-"]
    blocks = np.stack(seeded_rollout(env, seed=0, n_steps=100))
    assert blocks[..., 0::2].any() and blocks[..., 1::2].any()
    assert not (blocks[..., 0::2] & blocks[..., 1::2]).any()


def test_population_channels_are_named_by_bin() -> None:
    env = wrapped("population", n_bins=5)
    assert env.observation_space.shape == (8, 20)
    assert env.gym_encoder.channel_names[:2] == ["x[0]@bin0", "x[0]@bin1"]


def test_info_counts_spikes_and_clipped_values() -> None:
    env = SpikeObservationWrapper(gym.make("CartPole-v1"), "rate", bounds=([-0.01] * 4, [0.01] * 4))
    observation, info = env.reset(seed=0)
    assert info["spikes"]["count"] == int(observation.sum())
    assert info["spikes"]["clipped"] > 0


def test_the_first_observation_is_encoded_by_temporal_encoders() -> None:
    """Streams start at mid-range, so a temporal encoder reports the first observation's level."""
    env = wrapped("sf", threshold=0.02)
    observation, _ = env.reset(seed=0)
    assert observation.any()


def test_linear_upsampling_ramps_between_observations() -> None:
    space = spaces.Box(0.0, 1.0, (1,))
    enc = GymnasiumEncoder(space, "rate", substeps=4, upsample="linear", window=1)
    enc.reset(np.array([0.0]))
    block = enc.step(np.array([1.0]))
    assert block[:, 0].tolist() == [0, 1, 1, 1]  # probabilities 0.25, 0.5, 0.75, 1.0 with the accumulator


class RandomWalk(gym.Env):
    """A registered env with unbounded features and no config: its bounds must be estimated."""

    observation_space = spaces.Box(-np.inf, np.inf, (2,))
    action_space = spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.position = np.zeros(2, np.float32)
        return self.position.copy(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.position += self.np_random.normal(size=2).astype(np.float32)
        return self.position.copy(), 0.0, False, False, {}


gym.register("RandomWalk-v0", entry_point=RandomWalk, max_episode_steps=50)


def test_unbounded_features_are_estimated_and_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    from spikegym.envs import bounds

    bounds._estimated_bounds.pop("RandomWalk-v0", None)
    with caplog.at_level(logging.WARNING):
        env = SpikeObservationWrapper(gym.make("RandomWalk-v0"), "sf")
    assert "['x[0]', 'x[1]'] are unbounded" in caplog.text
    low, high = env.gym_encoder.bounds
    assert np.all(np.isfinite(low)) and np.all(high > low)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        SpikeObservationWrapper(gym.make("RandomWalk-v0"), "sf")
    assert "unbounded" not in caplog.text, "the estimate is warned about once per env id"


def test_unbounded_features_without_an_env_id_raise() -> None:
    with pytest.raises(ValueError, match=r"features \['x\[1\]'\] have no finite bounds .* bounds=\(low, high\)"):
        GymnasiumEncoder(spaces.Box(np.array([0.0, -np.inf]), np.array([1.0, np.inf])), "rate")


def test_unsupported_spaces_raise_a_type_error() -> None:
    with pytest.raises(TypeError, match="supported: Box, Discrete"):
        GymnasiumEncoder(spaces.Text(4), "rate")


def test_discrete_and_dict_spaces_are_one_hot_encoded() -> None:
    space = spaces.Dict({"mode": spaces.Discrete(3), "level": spaces.Box(0, 1, (2,))})
    enc = GymnasiumEncoder(space, "rate", substeps=4)
    block = enc.reset({"mode": 2, "level": np.array([0.0, 1.0], np.float32)})
    assert enc.channel_names == ["level[0]", "level[1]", "mode=0", "mode=1", "mode=2"]
    assert block.sum(0).tolist() == [0, 4, 0, 0, 4]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_observations_name_the_env_step_and_feature(bad: float) -> None:
    enc = GymnasiumEncoder(spaces.Box(-1, 1, (3,)), "sf", env_id="Demo-v0")
    enc.reset(np.zeros(3))
    with pytest.raises(ValueError, match=r"env Demo-v0 returned a non-finite observation at step 1: x\[2\] = "):
        enc.step(np.array([0.0, 0.0, bad]))


def test_nan_policy_zero_replaces_and_counts() -> None:
    enc = GymnasiumEncoder(spaces.Box(-1, 1, (3,)), "rate", nan_policy="zero", substeps=4)
    enc.reset(np.zeros(3))
    block = enc.step(np.array([np.nan, 1.0, -1.0]))
    assert enc.last_nonfinite == 1
    assert block.sum(0).tolist() == [2, 4, 0]


def test_wrong_observation_shape_raises() -> None:
    enc = GymnasiumEncoder(spaces.Box(-1, 1, (3,)), "rate")
    enc.reset(np.zeros(3))
    with pytest.raises(ValueError, match=r"observation has 4 values, but the observation space has 3 features"):
        enc.step(np.zeros(4))


def test_encoder_objects_bring_their_own_bounds() -> None:
    encoder = make("sf", 4, low=CARTPOLE_BOUNDS[0], high=CARTPOLE_BOUNDS[1])
    env = SpikeObservationWrapper(gym.make("CartPole-v1"), encoder)
    assert env.gym_encoder.encoder is encoder
    with pytest.raises(ValueError, match="not both"):
        SpikeObservationWrapper(gym.make("CartPole-v1"), encoder, bounds=CARTPOLE_BOUNDS)
    with pytest.raises(ValueError, match=r"encoder has n_features=3, but the observation space has 4 features"):
        SpikeObservationWrapper(gym.make("CartPole-v1"), make("sf", 3))


def test_bad_wrapper_arguments() -> None:
    with pytest.raises(ValueError, match="substeps must be an integer >= 1, got 0"):
        wrapped("rate", substeps=0)
    with pytest.raises(ValueError, match=r"upsample must be one of \['hold', 'linear'\], got 'cubic'"):
        wrapped("rate", upsample="cubic")


def test_the_wrapper_pickles_for_subprocess_vector_envs() -> None:
    env = wrapped("pwm")
    clone = pickle.loads(cloudpickle.dumps(env))
    first = seeded_rollout(env, seed=3, n_steps=20)
    second = seeded_rollout(clone, seed=3, n_steps=20)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_sb3_ppo_trains_a_few_hundred_steps_on_spike_observations() -> None:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    vec_env = make_vec_env(
        "CartPole-v1",
        n_envs=2,
        seed=0,
        wrapper_class=SpikeObservationWrapper,
        wrapper_kwargs={"encoder": "rate", "substeps": 4, "bounds": CARTPOLE_BOUNDS},
    )
    model = PPO("MlpPolicy", vec_env, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=256)
    observations = vec_env.reset()
    assert observations.shape == (2, 4, 4) and observations.dtype == np.int8
    actions, _ = model.predict(observations, deterministic=True)
    assert actions.shape == (2,)
    assert model.num_timesteps >= 256


class Dial(gym.Env):
    """A Discrete(3) env that returns the values it is given, in or out of its space."""

    observation_space = spaces.Discrete(3)
    action_space = spaces.Discrete(2)

    def __init__(self, values: tuple[int, ...] = (0, 1, 2, -1)) -> None:
        self.values = values

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        self.t = 0
        return self.values[0], {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict]:
        self.t += 1
        return self.values[self.t], 0.0, False, False, {}


gym.register("Dial-v0", entry_point=Dial)


def test_a_discrete_observation_outside_its_space_names_env_step_feature_and_value() -> None:
    env = SpikeObservationWrapper(gym.make("Dial-v0", disable_env_checker=True), "rate")
    env.reset(seed=0)
    env.step(0)
    env.step(0)
    with pytest.raises(ValueError, match=r"env Dial-v0 returned an observation outside its space at step 3: "
                                         r"x = -1 is not in Discrete\(3\)"):  # fmt: skip
        env.step(0)
    bad_start = SpikeObservationWrapper(gym.make("Dial-v0", values=(5,), disable_env_checker=True), "rate")
    with pytest.raises(ValueError, match=r"at step 0: x = 5 is not in Discrete\(3\)"):
        bad_start.reset(seed=0)


def test_a_vector_env_names_the_sub_env_of_an_observation_outside_its_space() -> None:
    envs = gym.vector.SyncVectorEnv(
        [lambda: Dial((0, 1, 2, 0)), lambda: Dial((0, 1, 7, 0))], autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP
    )
    wrapped = SpikeObservationVectorWrapper(envs, "rate")
    wrapped.reset(seed=0)
    wrapped.step(np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"the env \(sub-env 1\) returned an observation outside its space at "
                                         r"step 2: x = 7 is not in Discrete\(3\)"):  # fmt: skip
        wrapped.step(np.zeros(2, np.int64))


def test_the_scaled_wrapper_counts_what_it_clips() -> None:
    from spikegym.envs.wrappers import ScaledObservationWrapper

    narrow = ([-2.4, -0.01, -0.21, -0.01], [2.4, 0.01, 0.21, 0.01])
    env = ScaledObservationWrapper(gym.make("CartPole-v1"), bounds=narrow)
    _, info = env.reset(seed=0)
    clipped = [info["scaled"]["clipped"]] + [env.step(i % 2)[4]["scaled"]["clipped"] for i in range(20)]
    assert max(clipped) == 2, "both velocities leave their +-0.01 bounds and are counted"
    discrete = ScaledObservationWrapper(gym.make("Dial-v0", disable_env_checker=True))
    discrete.reset(seed=0)
    discrete.step(0)
    discrete.step(0)
    with pytest.raises(ValueError, match=r"env Dial-v0 returned an observation outside its space: x = -1"):
        discrete.step(0)
