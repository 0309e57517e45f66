"""The batched candidate scorer equals the wrapper's stream scores."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from spikegym.envs.gym_encoder import GymnasiumEncoder
from spikegym.envs.rollouts import record
from spikegym.tuning.objectives import CandidateScorer, stream_scores
from tests.helpers import CARTPOLE_BOUNDS, ENCODER_NAMES


@pytest.mark.parametrize("name", ENCODER_NAMES)
@pytest.mark.parametrize("upsample", ["hold", "linear"])
def test_batched_candidate_scores_equal_the_wrappers_stream_scores(name: str, upsample: str) -> None:
    rollouts = record("CartPole-v1", 300, seed=1)
    scorer = CandidateScorer(name, rollouts, *CARTPOLE_BOUNDS, upsample=upsample)
    rng = np.random.default_rng(0)
    params = {}
    for param, r in scorer.search_space().items():
        draw = rng.uniform(size=(3, 4))
        value = np.exp(np.log(r.low) + draw * np.log(r.high / r.low)) if r.log else r.low + draw * (r.high - r.low)
        params[param] = np.round(value) if r.integer else value
    scores = scorer.score(params)
    space = gym.make("CartPole-v1").observation_space
    for k in range(3):
        candidate = {p: v[k] for p, v in params.items()}
        encoder = GymnasiumEncoder(space, name, bounds=CARTPOLE_BOUNDS, upsample=upsample, **scorer.fixed, **candidate)
        reference = stream_scores(encoder, rollouts)
        assert np.allclose(scores.nrmse[k], reference.nrmse_per_feature, atol=1e-5)
        assert scores.spike_rate[k].mean() == pytest.approx(reference.spike_rate, rel=1e-9)
