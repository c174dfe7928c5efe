"""``dlm verify`` across machine classes on the real embedded base: a small document trained
under bf16 autocast, then rebuilt and recorded in float32 by ``dlm verify --record``. The bytes
differ, the behaviour verifies within the default tolerance, and a perturbed adapter does not."""

from __future__ import annotations

import tomllib

import pytest

from dlmbuild.train.machine_class import current_class
from tests.helpers import suite_threads

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DOC = """---
dlm_id: 01KB1VER1FY0C1A55000000001
base_model: smollm2-135m
system_prompt: "Answer in one short sentence."
training:
  precision: bf16
  sequence_len: 128
  seed: 5
  num_epochs: 12  # a fixed short schedule that learns both answers: about 20 s a build
  learning_rate: 0.004
  anchor:
    enabled: false
---
::instruction::
### Q
Who keeps the Brellow lighthouse?
### A
Odile Fenmarch keeps the Brellow lighthouse.

::instruction::
### Q
What colour is the Brellow lamp?
### A
The Brellow lamp is violet.
"""

BF16, FP32 = current_class("bf16").name, current_class("fp32").name


def test_bf16_goldens_verify_a_float32_rebuild_and_refuse_a_perturbed_adapter(embedded_base, embedded_home, tmp_path, monkeypatch,
                                                                              run_dlm):
    from safetensors.torch import load_file, save_file

    from dlmbuild.rules.train import read_rows
    from dlmbuild.train.probes import compare, probe_saved

    monkeypatch.setenv("DLM_HOME", str(embedded_home))
    monkeypatch.setenv("DLM_THREADS", suite_threads())
    doc = tmp_path / "light.dlm"
    doc.write_text(DOC)
    built = run_dlm("build", doc)
    assert built.code == 0, built.err

    doc.write_text(DOC.replace("precision: bf16", "precision: fp32"))
    recorded = run_dlm("verify", doc, "--record")
    assert recorded.code == 0, recorded.err
    first = recorded.out.splitlines()[0]
    assert first.startswith(f"verified across classes (precision fp32 vs bf16; {FP32} against the lock's {BF16}): ")
    assert "greedy answers identical on 2/2 questions of 1 adapter(s)" in first
    difference = float(first.split("max logit difference ")[1].split()[0])
    assert difference <= 1.0
    lock = tomllib.loads((tmp_path / "dlm.lock").read_text())["documents"]["light.dlm"]
    bf16, fp32 = (lock["classes"][c] for c in (BF16, FP32))
    assert bf16["targets"][":train-default"]["basis"] == fp32["targets"][":train-default"]["basis"]
    assert bf16["targets"][":train-default"]["output"] != fp32["targets"][":train-default"]["output"]  # bytes fail

    # one LoRA weight of the bf16 adapter pushed far enough to change what it says
    store = embedded_home / "store" / "01KB1VER1FY0C1A55000000001"
    adapter = sorted((store / "adapters" / "default" / "versions").glob("v*"))[-1]
    rows = read_rows(next(store.glob("actions/*/*/out/rows.jsonl")).parent)
    golden = {pid: {"argmax": p["argmax"], "logprob": p["logprob"]}
              for pid, p in bf16["probes"][":train-default"].items()}
    base = embedded_base[0].path
    assert compare(golden, probe_saved(base, adapter, rows)).passes(0.0)  # the bf16 adapter itself: exactly
    perturbed = tmp_path / "perturbed"
    perturbed.mkdir()
    (perturbed / "adapter_config.json").write_bytes((adapter / "adapter_config.json").read_bytes())
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    name = sorted(n for n in weights if "lora_B" in n and "layers.29." in n and "down_proj" in n)[0]
    weights[name] = weights[name].clone()
    weights[name][0, 0] += 1000.0  # one weight
    save_file(weights, str(perturbed / "adapter_model.safetensors"))
    verdict = compare(golden, probe_saved(base, perturbed, rows), 1.0)
    assert verdict.first_divergence and not verdict.passes(1.0)  # a flip where the adapter was sure
