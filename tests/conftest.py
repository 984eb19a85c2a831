"""Shared test settings.

Property-based tests run a fixed, derandomized sequence of examples by default so that
the merge gate is deterministic; ``HYPOTHESIS_PROFILE=explore`` draws fresh random
examples (and more of them) when hunting for new failures locally.
"""

import os

from ganbench.numerics import apply

# The suite computes as the default params do (numerics.cpu_isa: avx2, 2 threads), set
# before anything imports torch: the same bits on every x86 machine, as in the pipeline.
apply("avx2", 2)

from hypothesis import settings  # noqa: E402

settings.register_profile("gate", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gate"))
