"""The no-op stamp: an unchanged build answers from stat checks alone; any change falls through."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from dlmbuild.cli.build import run_build
from dlmbuild.engine.stamp import check_stamp, stamp_path, write_stamp
from tests.rules.conftest import age, project_dir  # noqa: F401 (fixture)


def _home() -> Path:
    return Path(os.environ["DLM_HOME"])


def test_stamp_matches_until_any_recorded_path_changes(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("one")
    age(tmp_path)
    write_stamp(tmp_path / "home", tmp_path / "doc.dlm", [], [str(a), str(b)], [], [str(tmp_path)], ["  cached  :x"])
    assert check_stamp(tmp_path / "home", tmp_path / "doc.dlm", []) == ["  cached  :x"]
    assert check_stamp(tmp_path / "home", tmp_path / "doc.dlm", [":other"]) is None  # other targets, other stamp
    b.write_text("now exists")
    assert check_stamp(tmp_path / "home", tmp_path / "doc.dlm", []) is None


def test_racy_paths_are_never_stamped(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("just written")
    write_stamp(tmp_path / "home", tmp_path / "doc.dlm", [], [str(a)], [], [], [])
    assert not stamp_path(tmp_path / "home", tmp_path / "doc.dlm", []).exists()


def test_build_writes_a_stamp_that_survives_a_noop_and_not_an_edit(project_dir):
    doc = project_dir / "doc.dlm"
    assert run_build(doc, [":tokenize"], quiet=True) == 0
    assert check_stamp(_home(), doc, [":tokenize"]) == ["  cached  :tokenize"]
    (project_dir / "notes" / "c.md").write_text("the new note\n")  # a new file: its folder changed
    assert check_stamp(_home(), doc, [":tokenize"]) is None
    age(project_dir)
    assert run_build(doc, [":tokenize"], quiet=True) == 0
    assert check_stamp(_home(), doc, [":tokenize"]) is not None
    (project_dir / "notes" / ".dlm").mkdir()
    assert check_stamp(_home(), doc, [":tokenize"]) is None  # rules may now apply there


def test_cleared_cache_invalidates_the_stamp(project_dir):
    doc = project_dir / "doc.dlm"
    assert run_build(doc, [":tokenize"], quiet=True) == 0
    import shutil

    shutil.rmtree(_home() / "store")
    assert check_stamp(_home(), doc, [":tokenize"]) is None


def test_noop_cli_build_answers_without_importing_typer_or_pydantic(project_dir):
    doc = project_dir / "doc.dlm"
    assert run_build(doc, [":tokenize"], quiet=True) == 0
    time.sleep(0.01)
    script = (
        "import sys; sys.argv = ['dlm', 'build', sys.argv[1], ':tokenize']\n"
        "from dlmbuild.cli.app import main\n"
        "main()\n"
        "print(sorted(m for m in ('typer', 'pydantic', 'lark', 'networkx', 'torch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(doc)], capture_output=True, text=True, check=True, env=os.environ)
    assert out.stdout.splitlines() == ["  cached  :tokenize", "[]"]
