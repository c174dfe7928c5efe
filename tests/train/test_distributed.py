"""``--gpus N`` data parallelism, run for real on CPU: two gloo worker processes under
torch.distributed.run must train the same adapter as one process that accumulates both halves
of each step (up to float summation order)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from dlmbuild.train.device import DevicePlan
from dlmbuild.train.plan import TrainPlan

torch = pytest.importorskip("torch")


def _plan(**changes) -> TrainPlan:
    plan = TrainPlan(adapter="default", kind="lora", r=4, alpha=8.0, dropout=0.0, target_modules=("q_proj", "v_proj"),
                     learning_rate=1e-2, epochs=3, steps=6, micro_batch=2, grad_accum=1, scheduler="cosine",
                     warmup_steps=1, optimizer="adamw", seed=11, sequence_len=16, blocks=8)
    return replace(plan, **changes)


@pytest.fixture
def tiny(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=64)
    LlamaForCausalLM(config).save_pretrained(tmp_path / "base")
    rows = [{"input_ids": [3 + (i * 7 + j) % 30 for j in range(10 + i % 5)]} for i in range(16)]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path, rows


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_two_cpu_workers_train_what_one_process_trains_with_accumulation(tiny, monkeypatch):
    from dlmbuild.train.base_model import _load
    from dlmbuild.train.distributed import run_distributed
    from dlmbuild.train.packing import pack
    from dlmbuild.train.recipe import train_adapter

    root, rows = tiny
    plan = _plan()
    single = root / "single"
    train_adapter(_load(root / "base", "cpu", False), replace(plan, grad_accum=2), DevicePlan("cpu", None, 1, ""),
                  pack(rows, 16), 0, single, base_key="tiny")
    spec = {"base_path": str(root / "base"), "base_key": "tiny", "rows": str(root / "rows.jsonl"), "plan": plan.as_dict(),
            "autocast": None, "anchor_weight": 0.0, "out_dir": str(root / "ddp"), "pad_id": 0, "metrics": "", "run": 0,
            "workdir": str(root / "work"), "cpu": True}
    (root / "ddp").mkdir()
    stats = run_distributed(spec, 2, root / "work", cuda=False)
    assert stats["steps"] == 6
    one, two = _weights(single), _weights(root / "ddp")
    assert one.keys() == two.keys() and len(one) == 8
    for name in one:
        assert torch.allclose(one[name], two[name], atol=1e-5), name
    assert json.loads((root / "ddp" / "adapter_config.json").read_text())["base_model_name_or_path"] == "tiny"


def test_more_gpus_than_the_machine_has_is_refused(monkeypatch):
    from dlmbuild.errors import EnvironmentProblem
    from dlmbuild.train.distributed import check_gpus

    monkeypatch.delenv("DLM_DISTRIBUTED_CPU", raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(EnvironmentProblem, match=r"--gpus 2: this machine has 0 CUDA device\(s\); use --gpus 1"):
        check_gpus(2)
    monkeypatch.setenv("DLM_DISTRIBUTED_CPU", "1")
    assert check_gpus(2) is False
