"""When training ends: a budget of real images, generator updates or wall-clock seconds."""

from __future__ import annotations

from dataclasses import dataclass

from ganbench.config.schema import TrainConfig
from ganbench.training.state import Progress


@dataclass(frozen=True)
class Budget:
    """``mode`` is ``kimg`` (real images shown to D, in thousands), ``g_steps``
    (generator updates) or ``seconds`` (training wall-clock). Training runs whole steps
    until the budget is reached, so it may overshoot by less than one step."""

    mode: str
    amount: float

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> Budget:
        return cls(cfg.budget, {"kimg": cfg.kimg, "g_steps": cfg.g_steps, "seconds": cfg.seconds}[cfg.budget])

    def used(self, p: Progress) -> float:
        return {"kimg": p.kimg, "g_steps": p.step, "seconds": p.wall_clock_s}[self.mode]

    def reached(self, p: Progress) -> bool:
        return self.used(p) >= self.amount - 1e-9

    def overshot(self, p: Progress, images_per_step: int) -> bool:
        """True when a run at ``p`` went on for at least one step past this budget, i.e.
        it already held the budget before its last step (a lowered budget)."""
        if p.step == 0:
            return False
        before = Progress(step=p.step - 1, images_seen=p.images_seen - images_per_step,
                          wall_clock_s=p.wall_clock_s * (p.step - 1) / p.step)
        return self.reached(before)

    def describe(self) -> str:
        unit = {"kimg": "kimg", "g_steps": "generator steps", "seconds": "s of training"}[self.mode]
        return f"{self.amount:g} {unit}"
