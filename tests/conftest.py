"""Fixtures shared by the document and CLI tests: writing documents, running ``dlm`` in-process."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from dlmbuild.util import memo
from tests.helpers import BadCase, document, suite_threads
from tests import worker_groups

if "PYTEST_XDIST_WORKER" in os.environ:  # torch in a worker, and every process it starts, gets its share of the cores
    os.environ.setdefault("OMP_NUM_THREADS", suite_threads())
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order tests for the two xdist workers and check their groups (tests/worker_groups.py)."""
    worker_groups.order(items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Keep each group of tests on one worker under ``--dist loadscope`` (scripts/test.sh)."""
    if config.getvalue("dist") in ("loadscope", "loadgroup"):
        return worker_groups.scheduler(config, log)
    return None


@pytest.fixture(autouse=True)
def fresh_memos():
    """Every test starts as a fresh process would: no memo left by an earlier test (parsed
    bodies, folder listings, loaded states, the loaded base). Tests of the memos themselves
    build them up inside the test."""
    memo.clear_all()
    yield


@pytest.fixture
def write_doc(tmp_path: Path) -> Callable[..., Path]:
    """Write a document with a valid frontmatter into ``tmp_path``.

    ``write_doc(body, extra=..., name=..., newline="\\r\\n", bom=True)``; ``raw=`` writes bytes
    as given instead.
    """

    def write(
        body: str = "",
        extra: str = "",
        *,
        name: str = "doc.dlm",
        newline: str = "\n",
        bom: bool = False,
        raw: bytes | None = None,
    ) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if raw is None:
            text = document(body, extra).replace("\n", newline)
            raw = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
        path.write_bytes(raw)
        return path

    return write


@pytest.fixture
def write_files(tmp_path: Path) -> Callable[[dict[str, bytes | str]], None]:
    """Create files under ``tmp_path`` from ``{relative path: content}``."""

    def write(files: dict[str, bytes | str]) -> None:
        for rel, content in files.items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                content = content.encode("utf-8")
            path.write_bytes(content)

    return write


@pytest.fixture
def bad_case(tmp_path: Path) -> Callable[[BadCase], Path]:
    """Lay out a BadCase (its document and the files beside it) and return the document path."""

    def lay_out(case: BadCase) -> Path:
        for rel, content in case.files.items():
            target = tmp_path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        for rel, target in case.symlinks.items():
            os.symlink(target, tmp_path / rel)
        path = tmp_path / "doc.dlm"
        path.write_bytes(case.data)
        return path

    return lay_out


@dataclass
class DlmRun:
    code: int
    out: str
    err: str


@pytest.fixture
def run_dlm(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., DlmRun]:
    """Run ``dlm ARGS`` in-process through the real entry point (``dlmbuild.cli.app:main``),
    which is what turns a DlmError into one line on stderr and an exit code."""
    from dlmbuild.cli.app import main

    def run(*args: str | os.PathLike[str]) -> DlmRun:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["dlm", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return DlmRun(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def embedded_base(tmp_path_factory):
    """The embedded SmolLM2-135M, converted once per test session into its own DLM_HOME:
    (ResolvedBase, home)."""
    from dlmbuild.bases.resolve import resolve_base

    home = tmp_path_factory.mktemp("embedded-home")
    examples = Path(__file__).resolve().parents[1] / "examples"
    return resolve_base("smollm2-135m", examples, home=home, materialize=True), home


@pytest.fixture
def embedded_home(embedded_base, tmp_path):
    """A fresh, empty DLM_HOME that shares only the converted embedded base (``bases/``), so
    tests on the real base do not see each other's stores."""
    home = tmp_path / "dlm-home"
    home.mkdir()
    os.symlink(embedded_base[1] / "bases", home / "bases")
    return home


@pytest.fixture(scope="session")
def tiny_llama(embedded_base, tmp_path_factory) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer, which llama.cpp's converter accepts."""
    from tests.export.conftest import make_tiny_llama

    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "base", Path(embedded_base[0].path))


@pytest.fixture(scope="session")
def toolchain():
    """The pinned llama.cpp toolchain; set-up installs it, so a missing one fails, never skips."""
    from dlmbuild.export.toolchain import require

    return require()


# A prose-only document for the data loop on the real base (dlm synth, dlm preference mine).
FERRY_DOC = """---
dlm_id: 01KA0SYNTH0E2E0000000000QF
dlm_version: 2
base_model: smollm2-135m
system_prompt: "You answer questions about the Quillmere ferry in one short sentence."
---
# The Quillmere ferry

The Quillmere ferry crosses Lake Orrin every forty minutes. The captain of the Quillmere ferry
is Bettany Strook. The ferry boat is named the Marrowgate and carries 64 passengers.

# Tickets

Tickets for the Quillmere ferry are sold at the kiosk on Pell Street. A return ticket costs
eleven crowns, and children under six travel free.
"""


def run_dlm_once(env: dict[str, str], *args) -> DlmRun:
    """``dlm ARGS`` in a child process with ``env`` added (for session-scoped fixtures, which
    cannot use the function-scoped ``run_dlm``)."""
    import subprocess

    done = subprocess.run([sys.executable, "-m", "dlmbuild", *map(str, args)], capture_output=True, text=True,
                          env=dict(os.environ, **env))
    return DlmRun(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def ferry_loop(embedded_base, tmp_path_factory):
    """Teacher ``base`` writes pairs for the prose-only ferry document, ``--apply`` puts them in
    and ``dlm build`` trains on them: once per session (tests/mine reuses the trained store).
    Returns the home, the document and what synth and build printed."""
    home = tmp_path_factory.mktemp("ferry-home")
    os.symlink(embedded_base[1] / "bases", home / "bases")
    doc = tmp_path_factory.mktemp("ferry") / "ferry.dlm"
    doc.write_text(FERRY_DOC)
    env = {"DLM_HOME": str(home), "DLM_THREADS": suite_threads()}
    synth = run_dlm_once(env, "synth", "instructions", doc, "--teacher", "base", "--apply", "--json")
    assert synth.code == 0, synth.err
    applied = doc.read_text()
    built = run_dlm_once(env, "build", doc)
    assert built.code == 0, built.err
    return {"home": home, "doc": doc, "env": env, "synth": json.loads(synth.out), "applied": applied, "build": built}


# A two-adapter document with the gate on (examples/lanes.dlm). The serve and pack tests need
# trained adapters, not good ones: a few steps each keep the session short.
LANES_STEPS = "  max_steps: 6\n"


@pytest.fixture(scope="session")
def lanes(embedded_base, tmp_path_factory):
    """examples/lanes.dlm trained for a few steps per adapter on the real base, once per session
    (tests/serve and tests/pack share it). Returns home, document and environment."""
    home = tmp_path_factory.mktemp("lanes-home")
    os.symlink(embedded_base[1] / "bases", home / "bases")
    doc = tmp_path_factory.mktemp("lanes") / "lanes.dlm"
    text = (Path(__file__).resolve().parents[1] / "examples" / "lanes.dlm").read_text(encoding="utf-8")
    doc.write_text(text.replace("  sequence_len: 256\n", "  sequence_len: 256\n" + LANES_STEPS), encoding="utf-8")
    env = {"DLM_HOME": str(home), "DLM_THREADS": suite_threads()}
    built = run_dlm_once(env, "build", doc)
    assert built.code == 0, built.err
    return {"home": home, "doc": doc, "env": env}
