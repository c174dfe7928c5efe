"""The main job on the real embedded base: build the tutor example, then ask it a question it
was trained on. SmolLM2-135M cannot know Kelvarro (it is invented), so the answer must come from
the adapter. About four minutes on two CPU cores."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_tutor_builds_and_prompt_answers_a_trained_question(embedded_home, tmp_path, monkeypatch, run_dlm):
    home = embedded_home
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work)
    (work / "dlm.lock").unlink(missing_ok=True)
    monkeypatch.setenv("DLM_HOME", str(home))
    monkeypatch.setenv("DLM_THREADS", str(os.cpu_count() or 2))  # the suite pins torch to 1 thread
    doc = work / "tutor.dlm"

    before = run_dlm("prompt", doc, "Who invented Kelvarro?")
    assert before.code == 1 and "adapter 'default' has not been trained yet; run 'dlm train" in before.err

    built = run_dlm("build", doc)
    assert built.code == 0, built.err
    assert "built   :train-default" in built.out

    answer = run_dlm("prompt", doc, "Who invented Kelvarro?", "--temp", "0", "--max-new-tokens", "32")
    assert answer.code == 0, answer.err
    assert "Drummond" in answer.out

    again = run_dlm("build", doc)
    assert again.code == 0 and again.out.count("cached") == 3 and "built" not in again.out
