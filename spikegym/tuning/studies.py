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
file ``*.log``) and ``study_name=``, a tuning run can be interrupted (even
killed) and resumed without losing a finished trial, and several worker
processes or machines can share it: each stops when every study holds exactly
``n_trials`` finished trials, rerunning the trials of workers that died
(:mod:`~spikegym.tuning.storage`). A study records the settings that define
it (:func:`study_settings`); reusing its name with other settings is refused
(:class:`StudyMismatchError`), never silently mixed.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import optuna
from optuna.storages import BaseStorage
from optuna.trial import Trial, TrialState

from spikegym._progress import progress as progress_bar
from spikegym._version import __version__
from spikegym.encoders import encoder_class
from spikegym.encoders.base import check_choice, check_int
from spikegym.encoders.search import SearchSpace
from spikegym.envs.configs import EncoderConfig
from spikegym.envs.rollouts import Rollouts, as_episodes
from spikegym.tuning.objectives import CandidateScorer
from spikegym.tuning.storage import (
    OPEN_ATTEMPTS,
    Heartbeat,
    describe_storage,
    grace_seconds,
    open_storage,
    reclaim_dead_trials,
    setup_lock,
)

logger = logging.getLogger(__name__)

Objective = Literal["mse", "mae", "nrmse"]
OBJECTIVES: tuple[str, ...] = ("mse", "mae", "nrmse")
HEARTBEAT_SECONDS = 10.0
"""Default seconds between a worker's signs of life; a trial silent for three of them is rerun."""
SETTINGS_KEY = "spikegym:settings"
"""The study user attribute holding the settings that define a study (:func:`study_settings`)."""


class StudyMismatchError(ValueError):
    """A study in the storage was made with other settings, or holds more trials than asked for."""


@dataclass(frozen=True)
class TunedEncoder:
    """The result of tuning one encoder for one env.

    :param encoder: the encoder name.
    :param params: all parameters of the encoder: the tuned ones per feature, and the fixed ones.
    :param tuned: the names of the tuned parameters.
    :param tuning_scores: mean scores over the features on the tuning episodes.
    :param held_out_scores: the same on the held-out episodes.
    :param held_out_nrmse: held-out NRMSE per feature.
    :param n_trials: finished trials per feature (every feature's study holds exactly as many).
    :param seconds: wall time of the search.
    :param fronts: with ``pareto``, the Pareto front per feature as ``(error, spike rate)`` rows.
    :param resumed_from: finished trials per feature the studies held before this run (0: new studies).
    :param run_here: trials per feature this process finished (the rest by other workers or earlier runs).
    :param study_name: the study name prefix, with ``storage``.
    :param storage: where the studies are (password hidden), or ``None`` for memory.
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
    resumed_from: int = 0
    run_here: int = 0
    study_name: str | None = None
    storage: str | None = None

    def history(self) -> str:
        """How the trials were run, for a config's provenance notes.

        >>> TunedEncoder("sf", {}, (), {}, {}, (), 24, 1.0, resumed_from=16, run_here=8, study_name="s",
        ...              storage="tune.log").history()
        "resumed study 's' in tune.log: 16 of 24 trials per feature were finished before this run, 8 run by it"
        """
        if self.storage is None:
            return f"{self.n_trials} trials per feature in memory"
        if self.resumed_from == 0:
            where = f"new study {self.study_name!r} in {self.storage}"
        else:
            where = (
                f"resumed study {self.study_name!r} in {self.storage}: {self.resumed_from} of {self.n_trials} "
                "trials per feature were finished before this run"
            )
        others = self.n_trials - self.resumed_from - self.run_here
        return f"{where}, {self.run_here} run by it" + (f", {others} by other workers" if others > 0 else "")

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
    heartbeat: float = HEARTBEAT_SECONDS,
    progress: bool = False,
) -> TunedEncoder:
    """Tune ``encoder``'s per-feature parameters on ``tuning`` episodes and score the result on ``held_out``.

    :param encoder: an encoder name.
    :param tuning: episodes to tune on (flattened observations ``(length, F)``).
    :param held_out: episodes to report scores on.
    :param low: per-feature lower bounds the observations are scaled by.
    :param high: per-feature upper bounds.
    :param n_trials: finished trials per feature (in total over resumed runs and workers): the run
        ends when every feature's study holds exactly this many.
    :param objective: the error measure: ``"mse"``, ``"mae"`` or ``"nrmse"``, in
        scaled units (the bounds' range is 1).
    :param spike_weight: error units one spike per feature per env step is worth.
    :param pareto: run two-objective studies (error, spike rate) instead of the weighted sum.
    :param storage: an optuna storage or URL (see :func:`~spikegym.tuning.storage.open_storage`);
        ``None`` keeps studies in memory.
    :param study_name: the study name prefix in ``storage`` (default ``"spikegym"``); a study of that name
        made with other settings is refused with a :class:`StudyMismatchError`.
    :param seed: seeds every feature's sampler: same seed, same result.
    :param batch_size: trials taken per feature and round.
    :param fixed: parameters held fixed (added to the encoder's tuning defaults; never tuned).
    :param features: feature names for the studies (default ``x[j]``).
    :param heartbeat: seconds between this worker's signs of life in ``storage``; a running trial silent
        for three of them is taken for a dead worker's and rerun. Every worker of a study uses the same.
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
    _check_tuning_arguments(objective, spike_weight, heartbeat, storage, study_name)
    defaults = {**cls.tuning_defaults(substeps), **(fixed or {})}
    scorer = CandidateScorer(encoder, tuning, low, high, substeps=substeps, upsample=upsample, fixed=defaults)
    space = scorer.search_space()
    if not space:
        raise ValueError(f"every tuned parameter of {encoder!r} is fixed ({sorted(defaults)}); nothing to tune")
    names = list(features) if features is not None else [f"x[{j}]" for j in range(scorer.n_features)]
    settings = study_settings(
        encoder, tuning, low, high, substeps=substeps, upsample=upsample, objective=objective,
        spike_weight=spike_weight, pareto=pareto, seed=seed, fixed=defaults, heartbeat=heartbeat,
    )  # fmt: skip
    backend = open_storage(storage) if isinstance(storage, str) else storage
    where = describe_storage(storage) if isinstance(storage, str) else None if storage is None else repr(storage)
    prefix = study_name or "spikegym"
    with setup_lock(storage if isinstance(storage, str) else None):
        studies = _studies(cls.name, names, backend, prefix, seed, pareto, n_trials, batch_size)
        for study in studies:
            _claim_or_check(study, settings, where, n_trials)
        _enqueue_defaults(studies, cls(scorer.n_features, **defaults), space)
    resumed_from = min(_count(study, (TrialState.COMPLETE,)) for study in studies)
    start = time.perf_counter()
    run_here = np.zeros(len(studies), dtype=int)
    with progress_bar(n_trials, f"tuning {encoder}", "trials", progress) as bar:
        while (done := min(_count(study, (TrialState.COMPLETE,)) for study in studies)) < n_trials:
            bar.update(done - bar.n)
            told = _round(studies, space, scorer, n_trials, batch_size, objective, spike_weight, pareto, heartbeat)
            if told is None:
                _wait_for_other_workers(studies, heartbeat)
            else:
                run_here += told
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
        n_trials=_finished_trials(studies, n_trials),
        seconds=seconds,
        fronts=tuple(_front(study) for study in studies) if pareto else None,
        resumed_from=resumed_from,
        run_here=int(run_here.min()),
        study_name=prefix if storage is not None else None,
        storage=where,
    )


def study_settings(
    encoder: str,
    tuning: Rollouts | Sequence[np.ndarray],
    low: Sequence[float] | np.ndarray,
    high: Sequence[float] | np.ndarray,
    *,
    substeps: int,
    upsample: str,
    objective: str,
    spike_weight: float,
    pareto: bool,
    seed: int,
    fixed: dict[str, Any],
    heartbeat: float,
) -> dict[str, Any]:
    """What defines a tuning study, as JSON-ready data: trials of studies whose settings differ do not mix.

    ``data`` is a SHA-256 fingerprint of the tuning episodes; ``fixed`` holds every parameter not tuned
    (the encoder's tuning defaults and the caller's). Two Pareto studies may differ in ``spike_weight``:
    their trials do not depend on it (it only picks the point of the front).

    >>> settings = study_settings("sf", [np.zeros((5, 2))], [0, 0], [1, 1], substeps=8, upsample="hold",
    ...                           objective="nrmse", spike_weight=0.002, pareto=False, seed=0, fixed={},
    ...                           heartbeat=10.0)
    >>> settings["encoder"], settings["data"]["steps"], settings["low"]
    ('step_forward', 5, [0.0, 0.0])
    """
    episodes = as_episodes(tuning)
    digest = hashlib.sha256()
    for episode in episodes:
        array = np.ascontiguousarray(episode, dtype=np.float64)
        digest.update(repr(array.shape).encode())
        digest.update(array.tobytes())
    settings = {
        "encoder": encoder_class(encoder).name,
        "data": {"sha256": digest.hexdigest()[:16], "episodes": len(episodes), "steps": sum(map(len, episodes))},
        "objective": objective,
        "substeps": substeps,
        "upsample": upsample,
        "spike_weight": spike_weight,
        "pareto": bool(pareto),
        "fixed": fixed,
        "seed": seed,
        "low": np.asarray(low, dtype=np.float64).tolist(),
        "high": np.asarray(high, dtype=np.float64).tolist(),
        "heartbeat": float(heartbeat),
    }
    return json.loads(json.dumps(settings, default=_json_default))


def check_studies(
    encoder: str,
    tuning: Rollouts | Sequence[np.ndarray],
    low: Sequence[float] | np.ndarray,
    high: Sequence[float] | np.ndarray,
    *,
    features: Sequence[str],
    storage: str,
    study_name: str | None = None,
    n_trials: int = 100,
    substeps: int = 8,
    upsample: str = "hold",
    objective: str = "nrmse",
    spike_weight: float = 0.002,
    pareto: bool = False,
    seed: int = 0,
    fixed: dict[str, Any] | None = None,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> None:
    """Check, creating nothing, that the studies :func:`tune_encoder` would resume in ``storage`` were made
    with these settings and hold at most ``n_trials`` trials; a :class:`StudyMismatchError` says what differs.

    A caller tuning several encoders checks them all before tuning the first.
    """
    cls = encoder_class(encoder)
    defaults = {**cls.tuning_defaults(substeps), **(fixed or {})}
    settings = study_settings(
        encoder, tuning, low, high, substeps=substeps, upsample=upsample, objective=objective,
        spike_weight=spike_weight, pareto=pareto, seed=seed, fixed=defaults, heartbeat=heartbeat,
    )  # fmt: skip
    backend = open_storage(storage)
    existing = set(optuna.study.get_all_study_names(backend))
    for feature in features:
        name = f"{study_name or 'spikegym'}/{cls.name}/{feature}"
        if name in existing:
            study = optuna.load_study(study_name=name, storage=backend)
            if SETTINGS_KEY in study.user_attrs or study.get_trials(deepcopy=False):
                _check_settings(study, settings, describe_storage(storage), n_trials)


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


def provenance(
    command: str,
    seed: int,
    n_trials: int,
    objective: str,
    notes: str | None = None,
    *,
    policy: str | None = None,
    considered: Sequence[str] | None = None,
    left_out: dict[str, str] | None = None,
    choice: str | None = None,
) -> dict[str, Any]:
    """The provenance fields of a tuned config.

    Who the encoder was tuned for is recorded field by field: the ``policy`` kind that reads it, the encoders
    ``considered``, those ``left_out`` with the reason, and why the chosen one won (``choice``); ``notes`` hold
    how the trials were run.

    >>> record = provenance("spikegym tune CartPole-v1", 0, 8, "nrmse", "8 trials per feature in memory",
    ...                     policy="stateless", considered=["rate"], left_out={"step_forward": "it marks changes"},
    ...                     choice="rate: the only encoder considered")
    >>> record["policy"], record["considered"], record["left_out"]
    ('stateless', ['rate'], {'step_forward': 'it marks changes'})
    """
    record: dict[str, Any] = {
        "method": "spikegym tune",
        "command": command,
        "date": datetime.date.today().isoformat(),
        "spikegym_version": __version__,
        "seed": seed,
        "trials": n_trials,
        "objective": objective,
    }
    fields = {"policy": policy, "considered": considered, "left_out": left_out, "choice": choice, "notes": notes}
    for key, value in fields.items():
        if value is not None:
            record[key] = list(value) if key == "considered" else dict(value) if key == "left_out" else value
    return record


# ------------------------------------------------------------------ studies
def _check_tuning_arguments(
    objective: str, spike_weight: float, heartbeat: float, storage: str | BaseStorage | None, study_name: str | None
) -> None:
    check_choice("objective", objective, OBJECTIVES)
    if not spike_weight >= 0:
        raise ValueError(f"spike_weight must be >= 0, got {spike_weight!r}")
    if not 0 < heartbeat < float("inf"):
        raise ValueError(f"heartbeat must be a number of seconds > 0, got {heartbeat!r}")
    if study_name is not None and storage is None:
        raise ValueError(f"study_name={study_name!r} needs a storage: in memory every run starts a new study")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} {value!r} cannot be recorded in a study's settings")


def _studies(
    encoder: str,
    features: Sequence[str],
    storage: BaseStorage | None,
    prefix: str,
    seed: int,
    pareto: bool,
    n_trials: int,
    batch_size: int,
) -> list[optuna.Study]:
    """Create (or load) one study per feature; a name taken by another worker at the same moment is loaded."""
    studies = []
    for j, feature in enumerate(features):
        if pareto:
            size = max(batch_size, min(50, n_trials // 5))
            sampler: optuna.samplers.BaseSampler = optuna.samplers.NSGAIISampler(population_size=size, seed=seed + j)
        else:
            sampler = optuna.samplers.TPESampler(seed=seed + j, n_startup_trials=min(10, n_trials))
        name = f"{prefix}/{encoder}/{feature}"
        for attempt in range(1, OPEN_ATTEMPTS + 1):
            try:
                study = optuna.create_study(
                    storage=storage,
                    sampler=sampler,
                    study_name=name,
                    load_if_exists=True,
                    directions=["minimize", "minimize"] if pareto else ["minimize"],
                )
                break
            except (optuna.exceptions.DuplicatedStudyError, optuna.exceptions.StorageInternalError, KeyError):
                if attempt == OPEN_ATTEMPTS:
                    raise
                logger.info("study %s is being created by another worker; retrying", name)
                time.sleep(0.2 * attempt)
        studies.append(study)
    return studies


def _claim_or_check(study: optuna.Study, settings: dict[str, Any], where: str | None, n_trials: int) -> None:
    """Record ``settings`` in a new study, or check that an existing study was made with them."""
    if SETTINGS_KEY not in study.user_attrs and not study.get_trials(deepcopy=False):
        study.set_user_attr(SETTINGS_KEY, settings)
    _check_settings(study, settings, where, n_trials)


def _check_settings(study: optuna.Study, settings: dict[str, Any], where: str | None, n_trials: int) -> None:
    """Raise a :class:`StudyMismatchError` unless ``study`` was made with ``settings`` and holds at most
    ``n_trials`` finished trials."""
    stored = study.user_attrs.get(SETTINGS_KEY)
    label = f"study {study.study_name!r}" + ("" if where is None else f" in storage {where!r}")
    advice = "resume it with the settings it was made with, or pass another study name (--study-name) to start anew"
    if stored is None:
        raise StudyMismatchError(
            f"{label} holds trials but no recorded settings (made by another program or an older spikegym), "
            f"so they cannot be checked against this run's; {advice}"
        )
    ignored = {"spike_weight"} if stored.get("pareto") and settings.get("pareto") else set()
    differences = [
        f"{key} (study: {_shown(stored.get(key))}, this run: {_shown(settings.get(key))})"
        for key in sorted((set(stored) | set(settings)) - ignored)
        if stored.get(key) != settings.get(key)
    ]
    if differences:
        raise StudyMismatchError(f"{label} was made with other settings: {'; '.join(differences)}. Either {advice}")
    finished = _count(study, (TrialState.COMPLETE,))
    if finished > n_trials:
        raise StudyMismatchError(
            f"{label} holds {finished} finished trials per feature, more than n_trials={n_trials} (--trials); "
            f"ask for {finished} or more to use them, or pass another study name (--study-name) to start anew"
        )


def _shown(value: Any) -> str:
    if isinstance(value, dict) and "sha256" in value:
        return f"sha256 {value['sha256']} of {value['episodes']} episodes, {value['steps']} steps"
    return repr(value)


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


def _finished_trials(studies: list[optuna.Study], n_trials: int) -> int:
    """The finished trials per feature: ``n_trials`` in every study, checked."""
    counts = {study.study_name: _count(study, (TrialState.COMPLETE,)) for study in studies}
    if set(counts.values()) != {n_trials}:
        raise RuntimeError(f"tuning ended with finished trials {counts}, not {n_trials} in each study")
    return n_trials


def _wait_for_other_workers(studies: list[optuna.Study], heartbeat: float) -> None:
    """Wait a moment for trials other workers are running (finished, or reclaimed once their worker died)."""
    running = sum(_count(study, (TrialState.RUNNING,)) for study in studies)
    logger.debug(
        "waiting for %d trial(s) run by other workers (rerun if silent for %.0f s)", running, grace_seconds(heartbeat)
    )
    time.sleep(min(1.0, heartbeat / 2))


def _ask(study: optuna.Study, n_trials: int, batch_size: int, heartbeat: float) -> list[Trial]:
    """Up to ``batch_size`` new trials, none beyond ``n_trials`` counting other workers' running ones.

    Running trials of dead workers are failed first (:func:`~spikegym.tuning.storage.reclaim_dead_trials`).
    Trial numbers are handed out atomically by the storage, so a trial whose
    number leaves more than ``n_trials`` finished or running trials at or
    before it was asked concurrently by another worker; it is pruned unevaluated.
    """
    reclaim_dead_trials(study, heartbeat)
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
    heartbeat: float,
) -> np.ndarray | None:
    """Ask, score and tell one round of trials for every feature, stamping them alive meanwhile.

    Returns the trials finished per feature, or ``None`` when no study needs a new trial now (those
    still short wait for trials of other workers).
    """
    asked = [_ask(study, n_trials, batch_size, heartbeat) for study in studies]
    width = max(len(trials) for trials in asked)
    if width == 0:
        return None
    finished = np.zeros(len(studies), dtype=int)
    with Heartbeat([trial for trials in asked for trial in trials], heartbeat):
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
                    finished[j] += _tell(study, trial, [float(v) for v in values])
        except BaseException:
            for study, trials in zip(studies, asked, strict=True):
                for trial in trials:
                    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise
    return finished


def _tell(study: optuna.Study, trial: Trial, values: list[float]) -> bool:
    """Tell a trial's values; ``False`` when another worker had reclaimed it (this one seemed dead)."""
    frozen = study.tell(trial, values, skip_if_finished=True)
    if frozen.state != TrialState.COMPLETE:
        logger.warning(
            "study %s: trial %d was failed by another worker meanwhile (no sign of life from this one); its "
            "result is dropped and the trial rerun",
            study.study_name,
            trial.number,
        )
        return False
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
