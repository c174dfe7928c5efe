"""The ``dlm`` program as a whole: help, ``python -m dlmbuild``, and no model stack on import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers import document

HEAVY = ("torch", "transformers", "peft", "trl", "accelerate", "datasets")


def test_help_lists_the_commands(run_dlm):
    r = run_dlm("--help")
    assert r.code == 0
    assert "Build language models from documents" in r.out
    for command in ("init", "show", "migrate"):
        assert f"  {command} " in r.out


def test_command_help(run_dlm):
    r = run_dlm("show", "--help")
    assert r.code == 0 and "--json" in r.out


def test_python_m_dlmbuild_prints_one_line_and_no_traceback(tmp_path: Path):
    path = tmp_path / "doc.dlm"
    path.write_text(document("::instruction::\n### Q\nWhat?\n"))
    before = path.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "dlmbuild", "show", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == f"{path}:6:1: '### Q' has no '### A' answer\n"
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert path.read_bytes() == before


def test_help_init_and_show_do_not_import_the_model_stack(tmp_path: Path):
    """The document layer must stay light: ``dlm --help``, ``init``, ``show`` and ``migrate``
    never import torch or transformers (they are installed here, so an import would show)."""
    path = tmp_path / "doc.dlm"
    script = textwrap.dedent(
        f"""
        import sys
        from dlmbuild.cli.app import app

        path = {str(path)!r}
        for args in (["--help"], ["init", path], ["show", path], ["show", path, "--json"], ["migrate", "--dry-run", path]):
            try:
                app(args, standalone_mode=False)
            except SystemExit:
                pass
        print("LOADED=" + ",".join(m for m in {HEAVY!r} if m in sys.modules))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert path.exists()  # the commands really ran
    assert proc.stdout.splitlines()[-1] == "LOADED="
