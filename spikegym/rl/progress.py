"""Training progress without a terminal: one line every ``interval`` seconds with the steps, their rate,
the time left and the last evaluation (SB3's bar needs a terminal; in a log file it is one garbled line).

>>> ProgressLinesCallback(1000, "training CartPole-v1 ppo").lines is None
True
"""

from __future__ import annotations

from typing import TextIO

from stable_baselines3.common.callbacks import BaseCallback, EvalCallback

from spikegym._progress import INTERVAL_S, ProgressLines


class ProgressLinesCallback(BaseCallback):
    """Write ``desc: steps/budget (pct), rate, eta, elapsed, last evaluation R`` every ``interval``
    seconds and at the end; the evaluation is ``evaluation``'s last mean return, once it has one."""

    def __init__(
        self,
        budget: int,
        desc: str,
        evaluation: EvalCallback | None = None,
        interval: float = INTERVAL_S,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__()
        self.budget, self.desc, self.evaluation = budget, desc, evaluation
        self.interval, self.stream = interval, stream
        self.lines: ProgressLines | None = None
        self.start_steps = 0

    def _on_training_start(self) -> None:
        self.start_steps = self.model.num_timesteps
        self.lines = ProgressLines(self.budget, self.desc, "steps", self.interval, self.stream)

    def _on_step(self) -> bool:
        assert self.lines is not None
        if self.evaluation is not None and self.evaluation.evaluations_results:
            self.lines.postfix["last evaluation"] = f"{self.evaluation.last_mean_reward:.1f}"
        self.lines.update(self.model.num_timesteps - self.start_steps - self.lines.n)
        return True

    def _on_training_end(self) -> None:
        if self.lines is not None:
            self.lines.close()
