"""A class's limits: what a teacher caps so that thirty learners share one server or cluster fairly.

Set in the environment of `make run` (one documented place, the README's "Running it for a
class"); unset means no limit beyond the engine's own ranges:

    CNN_MAX_JOBS_PER_LEARNER   queued-or-running jobs one learner may have at once
    CNN_MAX_EPOCHS             epochs per job
    CNN_MAX_TRAIN_DIGITS       training digits per job (the "Training digits" box; 0 = all counts as all)

The executor (local workers or a Ray cluster) is chosen by CNN_RAY_ADDRESS, and how many jobs
train at once by CNN_MAX_JOBS. A learner over a limit is told which one, before anything starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .config import ConfigError, TrainConfig
from .errors import UserError

ENV = {"jobs_per_learner": "CNN_MAX_JOBS_PER_LEARNER", "epochs": "CNN_MAX_EPOCHS",
       "train_digits": "CNN_MAX_TRAIN_DIGITS"}


class LimitError(UserError):
    """A learner is over one of the class's limits; the message says which and what to do."""


@dataclass(frozen=True)
class ClassLimits:
    jobs_per_learner: int | None = None
    epochs: int | None = None
    train_digits: int | None = None

    @classmethod
    def from_env(cls, environ=os.environ) -> "ClassLimits":
        values = {}
        for field, var in ENV.items():
            raw = environ.get(var, "").strip()
            if not raw:
                continue
            if not raw.isdigit() or int(raw) < 1:
                raise UserError(f"{var}={raw!r}: a teacher's limit must be a whole number of at least 1")
            values[field] = int(raw)
        return cls(**values)

    def check_config(self, config: TrainConfig, n_train: int | None = None) -> None:
        """ConfigError naming the setting (so the Train page marks its box) when a job is too big."""
        if self.epochs is not None and config.epochs > self.epochs:
            raise ConfigError("epochs", f"at most {self.epochs} in this class (the teacher's limit)")
        if self.train_digits is not None:
            wanted = config.limit or n_train
            if wanted is None or wanted > self.train_digits:
                raise ConfigError("limit", f"at most {self.train_digits:,} training digits per job in this class "
                                           "(the teacher's limit); enter a number up to that")

    def check_jobs(self, owner: str | None, active_of_owner: int) -> None:
        if self.jobs_per_learner is not None and owner is not None and active_of_owner >= self.jobs_per_learner:
            raise LimitError(f"you already have {active_of_owner} job(s) queued or running; this class allows "
                             f"{self.jobs_per_learner} per learner. Wait for one to finish, or stop one.")
