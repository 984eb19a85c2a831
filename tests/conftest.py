"""Shared test settings.

Property-based tests run a fixed, derandomized sequence of examples by default so that
the merge gate is deterministic; ``HYPOTHESIS_PROFILE=explore`` draws fresh random
examples (and more of them) when hunting for new failures locally.
"""

import os

from hypothesis import settings

settings.register_profile("gate", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gate"))
