"""The suite's split across xdist workers (tests/worker_groups.py): groups follow paths, and a test
that would build a family's expensive fixture on the other worker is refused at collection."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.worker_groups import check, group_of


def item(nodeid: str, *fixtures: str):
    return SimpleNamespace(nodeid=nodeid, fixturenames=list(fixtures))


def test_families_gather_across_folders_and_other_tests_stay_with_their_module():
    assert group_of("tests/serve/test_http.py::test_x") == group_of("tests/pack/test_pack_e2e.py::test_y") == "lanes"
    assert group_of("tests/synth/test_end_to_end.py::a") == group_of("tests/mine/test_end_to_end.py::b") == "ferry"
    assert group_of("tests/pack/test_archive.py::test_z[1]") == "tests/pack/test_archive.py"


def test_a_family_fixture_used_outside_the_family_is_refused_with_the_fix():
    check(item("tests/mine/test_end_to_end.py::t", "ferry_loop", "tmp_path"))
    with pytest.raises(pytest.UsageError, match=r"tests/gate/test_fit.py::t uses lanes: add 'tests/gate/test_fit.py' "
                                                r"to FAMILIES\['lanes'\]"):
        check(item("tests/gate/test_fit.py::t", "lanes"))


def test_the_longest_groups_start_first_then_those_with_most_slow_tests():
    from tests.worker_groups import order

    def make(nodeid: str, slow: bool = False):
        marker = object() if slow else None
        return SimpleNamespace(nodeid=nodeid, fixturenames=[], get_closest_marker=lambda name: marker if name == "slow" else None)

    items = [make("tests/a/test_quick.py::t"), make("tests/b/test_two_slow.py::t1", True),
             make("tests/b/test_two_slow.py::t2", True), make("tests/train/test_end_to_end.py::tutor", True),
             make("tests/eval/test_end_to_end.py::held_out", True), make("tests/c/test_one_slow.py::t", True)]
    order(items)
    assert [i.nodeid for i in items] == ["tests/eval/test_end_to_end.py::held_out", "tests/train/test_end_to_end.py::tutor",
                                         "tests/b/test_two_slow.py::t1", "tests/b/test_two_slow.py::t2",
                                         "tests/c/test_one_slow.py::t", "tests/a/test_quick.py::t"]
