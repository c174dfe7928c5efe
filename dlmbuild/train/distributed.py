"""Data-parallel training of one adapter over several processes (``dlm build --gpus N``).

The build process stays single: the ``:train-<name>`` action writes a spec (base, rows, plan,
output folder), launches N workers (``accelerate launch --multi_gpu`` on CUDA, the same workers
under ``torch.distributed.run`` with the gloo backend on CPU, which is how the tests exercise
this path without a GPU), and waits. Each worker loads the base on its own device and runs the
ordinary recipe with ``world=(rank, size)``: identical seeded batches everywhere, every rank a
share of each step's micro-batches, gradients summed before each optimizer step. Rank 0 logs
metrics and saves the adapter into the action's temporary output folder, so the engine commits
it atomically as with any other action.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from dlmbuild.errors import DlmError, EnvironmentProblem

RESULT = "result.json"


def launch_command(processes: int, spec: Path, cuda: bool) -> list[str]:
    if cuda:
        return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "dlmbuild.train.distributed",
                str(spec)]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
            "-m", "dlmbuild.train.distributed", str(spec)]


def run_distributed(spec: dict, processes: int, workdir: Path, *, cuda: bool, check_cancelled=lambda: None) -> dict:
    """Run the workers and return rank 0's training stats; the adapter lands in spec['out_dir']."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    command = launch_command(processes, spec_path, cuda)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    with open(workdir / "workers.log", "wb") as output:
        proc = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            while proc.poll() is None:
                check_cancelled()
                time.sleep(0.2)
        except BaseException:
            import signal

            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            raise
    result = workdir / RESULT
    if proc.returncode != 0 or not result.is_file():
        tail = (workdir / "workers.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
        raise DlmError(f"distributed training failed (exit {proc.returncode}): {tail[0] if tail else 'no output'}")
    return json.loads(result.read_text(encoding="utf-8"))


def check_gpus(processes: int) -> bool:
    """True when CUDA can give each process a device; refuses a count the machine cannot meet."""
    import torch

    available = torch.cuda.device_count()
    if available >= processes:
        return True
    if os.environ.get("DLM_DISTRIBUTED_CPU") == "1":  # gloo on CPU: for tests and debugging
        return False
    raise EnvironmentProblem(f"--gpus {processes}: this machine has {available} CUDA device(s); use --gpus {max(1, available)}")


def worker(spec_path: Path) -> None:
    import torch
    import torch.distributed as dist

    from dlmbuild.train.anchor import anchor_blocks
    from dlmbuild.train.base_model import load_base
    from dlmbuild.train.device import DevicePlan
    from dlmbuild.train.metrics import MetricsDB
    from dlmbuild.train.packing import pack
    from dlmbuild.train.plan import TrainPlan
    from dlmbuild.train.probes import probe_set
    from dlmbuild.train.recipe import train_adapter
    from dlmbuild.train.tokenizer import BaseTokenizer

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    cuda = torch.cuda.is_available() and not spec.get("cpu")
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, size = dist.get_rank(), dist.get_world_size()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    device = DevicePlan("cuda" if cuda else "cpu", spec["autocast"], torch.get_num_threads(), "")
    plan_fields = dict(spec["plan"])
    if not isinstance(plan_fields["target_modules"], str):
        plan_fields["target_modules"] = tuple(plan_fields["target_modules"])
    plan = TrainPlan(**plan_fields)
    with open(spec["rows"], encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    blocks = pack(rows, plan.sequence_len)
    anchor = anchor_blocks(BaseTokenizer(Path(spec["base_path"])), plan.sequence_len) if spec["anchor_weight"] > 0 else None
    model = load_base(Path(spec["base_path"]), device.device)
    metrics = MetricsDB(Path(spec["metrics"])) if rank == 0 and spec.get("metrics") else None

    def on_step(report) -> None:
        if metrics is not None:
            metrics.log_step(spec["run"], report.step, report.loss, report.lr, report.tokens, report.tokens_per_s, report.seconds)

    stats = train_adapter(model, plan, device, blocks, spec["pad_id"], Path(spec["out_dir"]), base_key=spec["base_key"],
                          on_step=on_step, anchor=anchor, anchor_weight=spec["anchor_weight"], world=(rank, size),
                          probes=probe_set(rows))
    if rank == 0:
        (Path(spec["workdir"]) / RESULT).write_text(json.dumps(stats), encoding="utf-8")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
