"""How the suite splits across two pytest-xdist workers (``scripts/test.sh`` passes
``-n 2 --dist loadscope``; the ``pytest_xdist_make_scheduler`` hook in tests/conftest.py
swaps in ``GroupScheduling``).

CI has two cores and most tests run torch on one thread, so two workers nearly halve the wall
time. What must not happen is an expensive shared fixture (a trained store, a converted speech
base, a tiny VLM and its adapter) being built once per worker. So every test belongs to a group
that stays on one worker:

- a test in a module that uses one of the expensive shared fixtures joins that fixture's family,
  whatever folder it is in (tests/synth and tests/mine share the trained ferry store);
- any other test joins its module's group, so module-scoped fixtures are built once.

The group is a function of the test's path alone, because xdist's controller schedules node ids
without collecting. ``check`` keeps the path table honest at collection: a test that uses a
family's fixture from a module outside the family fails collection with the line to add.
(xdist's own ``loadgroup`` marks do not work with pytest 9, which moved the node id that
xdist rewrites.)

The longest groups are scheduled first (``LONGEST``, measured: the eval and tutor end-to-end
tests train the real base for 10-13 minutes on one thread, the ferry and lanes stores take
10-15 minutes with the tests on them), then the other groups with slow tests, most slow tests
first, so the long trainings start at once and the many quick modules fill the other worker
around them instead of one 10-minute test starting last.
"""

from __future__ import annotations

import pytest

# family: (paths whose tests belong to it, the expensive session fixtures it shares)
FAMILIES: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "lanes": (("tests/serve/", "tests/remote/", "tests/pack/test_pack_e2e.py", "tests/pack/test_pack_base_e2e.py"),
              frozenset({"lanes", "served", "s3_endpoint"})),
    "ferry": (("tests/synth/test_end_to_end.py", "tests/mine/test_end_to_end.py"), frozenset({"ferry_loop"})),
    "vision": (("tests/vision/",), frozenset({"tiny_vlm", "tiny_paligemma", "trained_adapter", "mtmd", "pictures"})),
    "audiolm": (("tests/audiolm/",), frozenset({"tiny_audio_lm", "trained_audio_adapter", "clips"})),
    "speech": (("tests/speech/",), frozenset({"whisper_dir", "transcriber"})),
}


# `--durations` on two workers, 2026-12-03: eval e2e 800 s, ferry 458 + 402 + 52 s, tutor e2e
# 602 s, lanes 202 s to build plus about 400 s of tests on it.
LONGEST = ("tests/eval/test_end_to_end.py", "ferry", "tests/train/test_end_to_end.py", "lanes")


def group_of(nodeid: str) -> str:
    """The family whose paths hold ``nodeid``'s module, else the module's path."""
    module = nodeid.split("::", 1)[0]
    for family, (paths, _) in FAMILIES.items():
        if module.startswith(paths):
            return family
    return module


def check(item: pytest.Item) -> None:
    """Refuse a test that uses a family's expensive fixture from outside the family's paths:
    on two workers that fixture would be built twice."""
    names = set(getattr(item, "fixturenames", ()))
    group = group_of(item.nodeid)
    for family, (_, fixtures) in FAMILIES.items():
        used = sorted(names & fixtures)
        if used and group != family:
            module = item.nodeid.split("::", 1)[0]
            raise pytest.UsageError(f"{item.nodeid} uses {', '.join(used)}: add {module!r} to FAMILIES[{family!r}] "
                                    "in tests/worker_groups.py, or the fixture is built on both workers")


def order(items: list[pytest.Item]) -> None:
    """Check every item, then put the ``LONGEST`` groups first, then the other groups with slow
    tests (most slow tests first; ties and the rest keep collection order). Deterministic, as
    every worker must collect the same list."""
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        check(item)
        groups.setdefault(group_of(item.nodeid), []).append(item)

    def rank(group: str) -> tuple[int, int]:
        slow = sum(1 for item in groups[group] if item.get_closest_marker("slow"))
        return (LONGEST.index(group) if group in LONGEST else len(LONGEST), -slow)

    items[:] = [item for group in sorted(groups, key=rank) for item in groups[group]]


def scheduler(config: pytest.Config, log):
    """xdist's scope scheduling with ``group_of`` as the scope, in collection order (which
    ``order`` made slow-first)."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False
    return GroupScheduling(config, log)
