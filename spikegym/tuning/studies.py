"""Per-environment encoder tuning with optuna: little information lost for few spikes.

Each feature gets its own study (its parameters do not affect the others),
and all features are tuned at once: every round takes up to ``batch_size``
trials from each feature's study (optuna's ask-and-tell interface) and scores
all of them in one batched encode/decode call
(:class:`~spikegym.tuning.objectives.CandidateScorer`). A trial's value is the
feature's reconstruction error plus ``spike_weight`` times its spike rate, or,
with ``pareto=True``, the two as a two-objective study (NSGA-II), of whose
Pareto front the point with the lowest weighted sum is kept.

With ``storage=`` (an optuna URL such as ``sqlite:///tune.db``, or a journal
file ``*.log``) and ``study_name=``, a tuning run can be interrupted and
resumed without losing a finished trial, and several worker processes or
machines can share it: each stops when its studies hold ``n_trials`` trials.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import Trial, TrialState
from tqdm.auto import tqdm

from spikegym._version import __version__
from spikegym.encoders import encoder_class
from spikegym.encoders.base import check_choice, check_int
from spikegym.encoders.search import SearchSpace
from spikegym.envs.configs import EncoderConfig
from spikegym.envs.rollouts import Rollouts
from spikegym.tuning.objectives import CandidateScorer

logger = logging.getLogger(__name__)

Objective = Literal["mse", "mae", "nrmse"]
OBJECTIVES: tuple[str, ...] = ("mse", "mae", "nrmse")
STALE_SECONDS = 600.0
"""A trial left running this long is taken to belong to a worker that died, and is failed."""


@dataclass(frozen=True)
class TunedEncoder:
    """The result of tuning one encoder for one env.

    :param encoder: the encoder name.
    :param params: all parameters of the encoder: the tuned ones per feature, and the fixed ones.
    :param tuned: the names of the tuned parameters.
    :param tuning_scores: mean scores over the features on the tuning episodes.
    :param held_out_scores: the same on the held-out episodes.
    :param held_out_nrmse: held-out NRMSE per feature.
    :param n_trials: completed trials per feature (the smallest over the features).
    :param seconds: wall time of the search.
    :param fronts: with ``pareto``, the Pareto front per feature as ``(error, spike rate)`` rows.
    """

    encoder: str
    params: dict[str, Any]
    tuned: tuple[str, ...]
    tuning_scores: dict[str, float]
    held_out_scores: dict[str, float]
    held_out_nrmse: tuple[float, ...]
    n_trials: int
    seconds: float
    fronts: tuple[np.ndarray, ...] | None = field(default=None, compare=False)

    def to_config(
        self,
        env_id: str,
        low: Sequence[float],
        high: Sequence[float],
        features: Sequence[str],
        *,
        substeps: int,
        upsample: str,
        provenance: dict[str, Any],
    ) -> EncoderConfig:
        """The env config that applies this encoder, with its held-out scores in the provenance."""
        scores = {f"held_out_{k}": round(v, 6) for k, v in self.held_out_scores.items()}
        scores.update({f"tuning_{k}": round(v, 6) for k, v in self.tuning_scores.items()})
        return EncoderConfig(
            env_id,
            self.encoder,
            self.params,
            substeps,
            upsample,
            list(low),
            list(high),
            list(features),
            {**provenance, "scores": scores},
        )


def open_storage(url: str | None) -> BaseStorage | None:
    """An optuna storage for ``url``: ``None`` (in memory), a journal file (``*.log``,
    ``*.journal`` or ``journal:///path``), or an RDB URL (``sqlite:///tune.db``, ...).

    Raises a ``ValueError`` naming the URL when it cannot be opened.
    """
    if url is None:
        return None
    try:
        if url.startswith("journal://"):
            return JournalStorage(JournalFileBackend(url.removeprefix("journal://")))
        if url.endswith((".log", ".journal")) and "://" not in url:
            return JournalStorage(JournalFileBackend(url))
        return RDBStorage(url)
    except Exception as error:
        raise ValueError(
            f"storage {url!r} cannot be opened ({type(error).__name__}: {error}); give an optuna RDB URL such as "
            "sqlite:///tune.db or a journal file path ending in .log"
        ) from None


def tune_encoder(
    encoder: str,
    tuning: Rollouts | Sequence[np.ndarray],
    held_out: Rollouts | Sequence[np.ndarray],
    low: Sequence[float] | np.ndarray,
    high: Sequence[float] | np.ndarray,
    *,
    substeps: int = 8,
    upsample: Literal["hold", "linear"] = "hold",
    n_trials: int = 100,
    objective: Objective = "nrmse",
    spike_weight: float = 0.002,
    pareto: bool = False,
    storage: str | BaseStorage | None = None,
    study_name: str | None = None,
    seed: int = 0,
    batch_size: int = 8,
    fixed: dict[str, Any] | None = None,
    features: Sequence[str] | None = None,
    progress: bool = False,
) -> TunedEncoder:
    """Tune ``encoder``'s per-feature parameters on ``tuning`` episodes and score the result on ``held_out``.

    :param encoder: an encoder name.
    :param tuning: episodes to tune on (flattened observations ``(length, F)``).
    :param held_out: episodes to report scores on.
    :param low: per-feature lower bounds the observations are scaled by.
    :param high: per-feature upper bounds.
    :param n_trials: trials per feature (in total over resumed runs and workers).
    :param objective: the error measure: ``"mse"``, ``"mae"`` or ``"nrmse"``, in
        scaled units (the bounds' range is 1).
    :param spike_weight: error units one spike per feature per env step is worth.
    :param pareto: run two-objective studies (error, spike rate) instead of the weighted sum.
    :param storage: an optuna storage or URL (see :func:`open_storage`); ``None`` keeps studies in memory.
    :param study_name: the study name prefix in ``storage`` (default ``"spikegym"``).
    :param seed: seeds every feature's sampler: same seed, same result.
    :param batch_size: trials taken per feature and round.
    :param fixed: parameters held fixed (added to the encoder's tuning defaults; never tuned).
    :param features: feature names for the studies (default ``x[j]``).
    :param progress: show a progress bar.

    >>> from spikegym.envs.rollouts import record
    >>> tuning, held_out = record("CartPole-v1", 600, seed=0).split(0.25)
    >>> bounds = ([-2.4, -2, -0.21, -2.5], [2.4, 2, 0.21, 2.5])
    >>> result = tune_encoder("sf", tuning, held_out, *bounds, n_trials=16, seed=0)
    >>> result.tuned, len(result.params["threshold"]), result.n_trials
    (('threshold',), 4, 16)
    """
    cls = encoder_class(encoder)
    check_int("n_trials", n_trials, 1)
    check_int("batch_size", batch_size, 1)
    check_choice("objective", objective, OBJECTIVES)
    if not spike_weight >= 0:
        raise ValueError(f"spike_weight must be >= 0, got {spike_weight!r}")
    defaults = {**cls.tuning_defaults(substeps), **(fixed or {})}
    scorer = CandidateScorer(encoder, tuning, low, high, substeps=substeps, upsample=upsample, fixed=defaults)
    space = scorer.search_space()
    if not space:
        raise ValueError(f"every tuned parameter of {encoder!r} is fixed ({sorted(defaults)}); nothing to tune")
    names = list(features) if features is not None else [f"x[{j}]" for j in range(scorer.n_features)]
    studies = _studies(encoder, names, storage, study_name, seed, pareto, n_trials, batch_size)
    _enqueue_defaults(studies, cls(scorer.n_features, **defaults), space)
    start = time.perf_counter()
    with tqdm(total=n_trials, disable=not progress, desc=f"tuning {encoder}", unit="trial") as bar:
        while _round(studies, space, scorer, n_trials, batch_size, objective, spike_weight, pareto):
            done = min(_count(study, (TrialState.COMPLETE,)) for study in studies)
            bar.update(done - bar.n)
    seconds = time.perf_counter() - start
    best = [_best(study, spike_weight) for study in studies]
    tuned_params = {name: np.array([trial.params[name] for trial in best]) for name in space}
    chosen = {name: values[None] for name, values in tuned_params.items()}
    held = CandidateScorer(encoder, held_out, low, high, substeps=substeps, upsample=upsample, fixed=defaults)
    return TunedEncoder(
        encoder=cls.name,
        params={**defaults, **{name: values.tolist() for name, values in tuned_params.items()}},
        tuned=tuple(space),
        tuning_scores=_mean_scores(scorer.score(chosen)),
        held_out_scores=_mean_scores(held.score(chosen)),
        held_out_nrmse=tuple(float(v) for v in held.score(chosen).nrmse[0]),
        n_trials=min(_count(study, (TrialState.COMPLETE,)) for study in studies),
        seconds=seconds,
        fronts=tuple(_front(study) for study in studies) if pareto else None,
    )


def default_scores(
    encoder: str,
    episodes: Rollouts | Sequence[np.ndarray],
    low: Sequence[float] | np.ndarray,
    high: Sequence[float] | np.ndarray,
    *,
    substeps: int = 8,
    upsample: Literal["hold", "linear"] = "hold",
) -> dict[str, float]:
    """Mean scores of ``encoder`` with its constructor defaults (what a wrapper gives untuned): the baseline."""
    scorer = CandidateScorer(encoder, episodes, low, high, substeps=substeps, upsample=upsample, fixed={})
    defaults = encoder_class(encoder)(scorer.n_features)
    params = {name: getattr(defaults, name).numpy()[None].astype(np.float64) for name in scorer.search_space()}
    return _mean_scores(scorer.score(params))


def provenance(command: str, seed: int, n_trials: int, objective: str, notes: str | None = None) -> dict[str, Any]:
    """The provenance fields of a tuned config."""
    record = {
        "method": "spikegym tune",
        "command": command,
        "date": datetime.date.today().isoformat(),
        "spikegym_version": __version__,
        "seed": seed,
        "trials": n_trials,
        "objective": objective,
    }
    return record if notes is None else {**record, "notes": notes}


# ------------------------------------------------------------------ studies
def _studies(
    encoder: str,
    features: Sequence[str],
    storage: str | BaseStorage | None,
    study_name: str | None,
    seed: int,
    pareto: bool,
    n_trials: int,
    batch_size: int,
) -> list[optuna.Study]:
    backend = open_storage(storage) if isinstance(storage, str) else storage
    prefix = study_name or "spikegym"
    studies = []
    for j, feature in enumerate(features):
        if pareto:
            size = max(batch_size, min(50, n_trials // 5))
            sampler: optuna.samplers.BaseSampler = optuna.samplers.NSGAIISampler(population_size=size, seed=seed + j)
        else:
            sampler = optuna.samplers.TPESampler(seed=seed + j, n_startup_trials=min(10, n_trials))
        study = optuna.create_study(
            storage=backend,
            sampler=sampler,
            study_name=f"{prefix}/{encoder_class(encoder).name}/{feature}",
            load_if_exists=True,
            directions=["minimize", "minimize"] if pareto else ["minimize"],
        )
        studies.append(study)
    return studies


def _enqueue_defaults(studies: list[optuna.Study], defaults: Any, space: SearchSpace) -> None:
    """Make each fresh study's first trial the encoder's defaults (clipped into the range), so tuning
    starts from them and can only improve on them on the tuning data."""
    for j, study in enumerate(studies):
        if study.get_trials(deepcopy=False):
            continue
        values = {}
        for name, r in space.items():
            value = min(max(float(getattr(defaults, name).numpy()[j]), float(r.low[j])), float(r.high[j]))
            values[name] = round(value) if r.integer else value
        study.enqueue_trial(values)


def _count(study: optuna.Study, states: tuple[TrialState, ...]) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def _fail_stale(study: optuna.Study) -> None:
    """Fail trials left running by a worker that died (older than :data:`STALE_SECONDS`)."""
    now = datetime.datetime.now()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.datetime_start is not None and (now - trial.datetime_start).total_seconds() > STALE_SECONDS:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def _ask(study: optuna.Study, n_trials: int, batch_size: int) -> list[Trial]:
    """Up to ``batch_size`` new trials, none beyond ``n_trials`` counting other workers' running ones.

    Trial numbers are handed out atomically by the storage, so a trial whose
    number leaves more than ``n_trials`` finished or running trials at or
    before it was asked concurrently by another worker; it is pruned unevaluated.
    """
    _fail_stale(study)
    live = _count(study, (TrialState.COMPLETE, TrialState.RUNNING))
    trials = [study.ask() for _ in range(min(batch_size, n_trials - live))]
    if not trials:
        return []
    states = (TrialState.COMPLETE, TrialState.RUNNING)
    numbers = sorted(t.number for t in study.get_trials(deepcopy=False, states=states))
    kept = []
    for trial in trials:
        if int(np.searchsorted(numbers, trial.number, side="right")) <= n_trials:
            kept.append(trial)
        else:
            study.tell(trial, state=TrialState.PRUNED)
    return kept


def _suggest(trial: Trial, space: SearchSpace, j: int) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, r in space.items():
        log = bool(r.log and r.low[j] > 0)
        if r.integer:
            values[name] = trial.suggest_int(name, int(r.low[j]), int(r.high[j]), log=log)
        else:
            values[name] = trial.suggest_float(name, float(r.low[j]), float(r.high[j]), log=log)
    return values


def _round(
    studies: list[optuna.Study],
    space: SearchSpace,
    scorer: CandidateScorer,
    n_trials: int,
    batch_size: int,
    objective: Objective,
    spike_weight: float,
    pareto: bool,
) -> bool:
    """Ask, score and tell one round of trials for every feature; ``False`` when no study needs more."""
    asked = [_ask(study, n_trials, batch_size) for study in studies]
    width = max(len(trials) for trials in asked)
    if width == 0:
        return False
    try:
        chosen = [[_suggest(trial, space, j) for trial in trials] for j, trials in enumerate(asked)]
        params = {name: np.empty((width, len(studies))) for name in space}
        for j, suggestions in enumerate(chosen):
            for k in range(width):
                values = suggestions[min(k, len(suggestions) - 1)] if suggestions else _midpoints(space, j)
                for name, value in values.items():
                    params[name][k, j] = value
        scores = scorer.score(params)
        error, rate = scores.error(objective), scores.spike_rate
        for j, (study, trials) in enumerate(zip(studies, asked, strict=True)):
            for k, trial in enumerate(trials):
                values = [error[k, j], rate[k, j]] if pareto else [error[k, j] + spike_weight * rate[k, j]]
                study.tell(trial, [float(v) for v in values])
    except BaseException:
        for study, trials in zip(studies, asked, strict=True):
            for trial in trials:
                study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        raise
    return True


def _midpoints(space: SearchSpace, j: int) -> dict[str, float]:
    """Filler values for a feature without trials this round (scored, never told)."""
    return {name: float(r.low[j]) for name, r in space.items()}


def _best(study: optuna.Study, spike_weight: float) -> optuna.trial.FrozenTrial:
    if len(study.directions) == 1:
        return study.best_trial
    return min(study.best_trials, key=lambda t: t.values[0] + spike_weight * t.values[1])


def _front(study: optuna.Study) -> np.ndarray:
    return np.array(sorted((t.values[0], t.values[1]) for t in study.best_trials))


def _mean_scores(scores: Any) -> dict[str, float]:
    return {
        "nrmse": float(scores.nrmse.mean()),
        "mse": float(scores.mse.mean()),
        "mae": float(scores.mae.mean()),
        "spike_rate": float(scores.spike_rate.mean()),
    }
