"""Shared test settings, and the fixtures every test module may use.

Property-based tests run a fixed, derandomized sequence of examples by default so that
the merge gate is deterministic; ``HYPOTHESIS_PROFILE=explore`` draws fresh random
examples (and more of them) when hunting for new failures locally.
"""

import os

import pytest

from ganbench.numerics import apply

# The suite computes as the default params do (numerics.cpu_isa: avx2, 2 threads), set
# before anything imports torch: the same bits on every x86 machine, as in the pipeline.
apply("avx2", 2)

from hypothesis import settings  # noqa: E402

settings.register_profile("gate", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gate"))


#: Folders whose modules run real pipelines, servers and multi-process training (minutes
#: each), in the order they are handed to pytest-xdist's workers; every other module after.
HEAVY_FIRST = ("tests/pipeline/", "tests/training/", "tests/metrics/")


def pytest_collection_modifyitems(config, items):
    """The slow end-to-end modules first, the quick unit tests after them. With
    ``-n 2 --dist loadfile --no-loadscope-reorder`` (``make test``) xdist hands out whole
    modules in this order, so the short ones fill the gaps at the end instead of a worker
    waiting for a long module that started last (xdist's own order, by number of tests,
    puts the few-test pipeline modules last)."""
    def rank(item) -> int:
        path = item.nodeid
        return next((i for i, prefix in enumerate(HEAVY_FIRST) if path.startswith(prefix)), len(HEAVY_FIRST))

    items.sort(key=rank)  # stable: the order inside each group stays pytest's


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    """The fake dataset fetched and preprocessed once per module (tests/fixtures.py's
    ``make_processed_dataset``); returns the processed folder."""
    from tests.fixtures import make_processed_dataset

    return make_processed_dataset(tmp_path_factory.mktemp("data"))
