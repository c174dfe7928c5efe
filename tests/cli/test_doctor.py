"""``dlm doctor`` on the machine: the CPU features llama.cpp dispatches on, and what the installed
llama.cpp was compiled with (never AMX: its kernels crash, llama.cpp issue 20824)."""

from __future__ import annotations

import json

from dlmbuild.export.cpu import reported_features


def test_doctor_reports_cpu_features_and_the_llama_cpp_build(run_dlm):
    result = run_dlm("doctor", "--json")
    cpu = json.loads(result.out)["machine"]["cpu"]
    assert cpu["cpu"] == reported_features()
    assert cpu["llama_cpp"]["AMX"] is False
    text = run_dlm("doctor").out
    line = next(line for line in text.splitlines() if line.startswith("cpu "))
    assert "llama.cpp built with" in line and "no AMX" in line.split("llama.cpp built with")[1]
