"""Calls into native code in a child process: values and DlmErrors come back, a real signal death
becomes one NativeCrash line, a cancelled build kills the child."""

from __future__ import annotations

import threading
import time

import pytest

from dlmbuild.errors import EXIT_BUILD_FAILED, EnvironmentProblem, UsageError
from dlmbuild.export.native import FAULT_ENV, NativeCrash, crash_message, run_isolated, signal_name


def test_a_value_comes_back():
    assert run_isolated("dlmbuild.export.convert:check_quant", {"quant": "Q5_K_M"}, doing="checking") == "q5_k_m"


def test_a_dlm_error_comes_back_with_its_class_and_message():
    with pytest.raises(UsageError, match=r"^unknown quant 'q4_k_n' \(did you mean 'q4_k_m'\?\)"):
        run_isolated("dlmbuild.export.convert:check_quant", {"quant": "q4_k_n"}, doing="checking")


def test_any_other_exception_is_one_environment_line():
    with pytest.raises(EnvironmentProblem, match=r"^FileNotFoundError: .*no-such-file"):
        run_isolated("dlmbuild.store.exports:sha256_file", {"path": "/no-such-file"}, doing="hashing")


def test_a_child_that_dies_of_sigsegv_is_one_line_naming_the_signal(capsys, monkeypatch):
    monkeypatch.delenv("DLM_DEBUG", raising=False)
    with pytest.raises(NativeCrash) as caught:
        run_isolated("faulthandler:_sigsegv", doing="smoke-testing tiny.Q4_K_M.gguf", consequence="the previous export is kept")
    assert str(caught.value) == ("llama.cpp crashed (SIGSEGV) while smoke-testing tiny.Q4_K_M.gguf; "
                                 "the previous export is kept (DLM_DEBUG=1 shows its log)")
    assert caught.value.exit_code == EXIT_BUILD_FAILED
    assert capsys.readouterr().err == ""


def test_with_dlm_debug_the_childs_log_is_shown(capsys, monkeypatch):
    monkeypatch.setenv("DLM_DEBUG", "1")
    with pytest.raises(NativeCrash):
        run_isolated("faulthandler:_sigsegv", doing="testing")
    err = capsys.readouterr().err
    assert "--- llama.cpp log (last lines) ---" in err and "Segmentation fault" in err


def test_the_fault_hook_kills_only_matching_calls(monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "check_quant")
    with pytest.raises(NativeCrash, match=r"crashed \(SIGSEGV\) while checking"):
        run_isolated("dlmbuild.export.convert:check_quant", {"quant": "f16"}, doing="checking")
    monkeypatch.setenv(FAULT_ENV, "something-else")
    assert run_isolated("dlmbuild.export.convert:check_quant", {"quant": "f16"}, doing="checking") == "f16"


def test_cancel_kills_the_child_and_interrupts():
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        run_isolated("os:system", {"command": "sleep 30"}, doing="sleeping", cancel=cancel)
    assert time.perf_counter() - started < 10


def test_a_child_that_runs_too_long_is_stopped():
    with pytest.raises(EnvironmentProblem, match=r"did not finish within 1 s while sleeping"):
        run_isolated("os:system", {"command": "sleep 30"}, doing="sleeping", timeout=1)


def test_signal_names():
    assert signal_name(-11) == "SIGSEGV" and signal_name(-4) == "SIGILL" and signal_name(3) == "exit 3"
    assert crash_message(-6, "quantizing a.gguf") == "llama.cpp crashed (SIGABRT) while quantizing a.gguf (DLM_DEBUG=1 shows its log)"
