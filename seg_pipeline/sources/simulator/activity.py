"""Sparse activity: which alive accounts have any product events in a given week.

Real exports show accounts active in only a share of weeks while their needs (the persona) stay the same. Each
account draws a propensity once; each week draws independently whether the account shows up. Both come from
their own random streams (purposes 8 and 9), so the dynamics, tickets and CRM draws are exactly those of the
dense simulation, and a config without ``active_share`` never touches these streams.
"""

from dataclasses import dataclass, field

import numpy as np

from seg_pipeline.sources.simulator.config import SimulationConfig, rng


@dataclass
class ActivityPlan:
    """Per-account weekly activity propensity, drawn as accounts appear (rows follow :class:`Accounts`)."""

    config: SimulationConfig
    propensity: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def week_mask(self, w: int, alive: np.ndarray) -> np.ndarray:
        """Alive accounts active in week ``w``; every alive account when the config is not sparse."""
        share = self.config.active_share
        if share is None:
            return alive
        n = alive.size
        new = n - self.propensity.size
        if new > 0:
            # accounts of the start base (w=0 first call) and later signups each get their own stream
            gen = rng(self.config.seed, 8, w)
            self.propensity = np.concatenate([self.propensity, gen.uniform(share[0], share[1], new)])
        draw = rng(self.config.seed, 9, w).random(n)
        return alive & (draw < self.propensity)
