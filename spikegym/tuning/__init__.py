"""Per-environment encoder tuning: reconstruction objectives and optuna studies.

What is here: the scores of an encoding as the wrapper produces it and the
batched scorer of many candidates (:mod:`~spikegym.tuning.objectives`), one
optuna study per feature with ask-and-tell rounds and shared storage
(:mod:`~spikegym.tuning.studies`), storages that many workers open at once and
whose dead workers' trials are rerun (:mod:`~spikegym.tuning.storage`), grids of independent jobs that
any number of worker processes share through such a storage (:mod:`~spikegym.tuning.grid`), and figures of
an encoding (:mod:`~spikegym.tuning.plots`).

May import: :mod:`spikegym.encoders`, :mod:`spikegym.envs`, optuna, matplotlib;
never :mod:`spikegym.rl` (tuning on an agent's rollouts gets them recorded by the caller).

>>> from spikegym.envs import record
>>> from spikegym.tuning import tune_encoder
>>> tuning, held_out = record("CartPole-v1", 400, seed=0).split()
>>> low, high = [-2.4, -3.0, -0.21, -3.0], [2.4, 3.0, 0.21, 3.0]
>>> tuned = tune_encoder("step_forward", tuning, held_out, low, high, n_trials=8)
>>> tuned.tuned, tuned.n_trials
(('threshold',), 8)
"""

from spikegym.tuning.grid import Grid, GridStatus, default_workers, run_processes
from spikegym.tuning.objectives import CandidateScorer, StreamScores, stream_scores
from spikegym.tuning.storage import open_storage
from spikegym.tuning.studies import StudyMismatchError, TunedEncoder, study_settings, tune_encoder

__all__ = [
    "CandidateScorer",
    "Grid",
    "GridStatus",
    "StreamScores",
    "StudyMismatchError",
    "TunedEncoder",
    "default_workers",
    "open_storage",
    "run_processes",
    "stream_scores",
    "study_settings",
    "tune_encoder",
]
