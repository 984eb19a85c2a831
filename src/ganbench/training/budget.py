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

    def overshot(self, p: Progress, images_per_step: int, late_steps: int = 1) -> bool:
        """True when a run at ``p`` went on for at least ``late_steps`` steps past this
        budget, i.e. it already held the budget ``late_steps`` steps before its end (a
        lowered budget). ``late_steps`` is how late the run may legitimately stop: 1
        step, or a flush interval for a ``seconds`` budget ended by several processes."""
        if p.step < late_steps:
            return False
        back = p.step - late_steps
        before = Progress(step=back, images_seen=p.images_seen - late_steps * images_per_step,
                          wall_clock_s=p.wall_clock_s * back / p.step)
        return self.reached(before)

    def describe(self) -> str:
        unit = {"kimg": "kimg", "g_steps": "generator steps", "seconds": "s of training"}[self.mode]
        return f"{self.amount:g} {unit}"
