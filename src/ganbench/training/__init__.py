"""Training: the phase-running loop, EMA, checkpoints, and the per-variant runner."""
