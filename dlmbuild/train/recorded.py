"""A training run as the build records it, for any phase (supervised, preference): torch's
thread count set for the run and restored after, a row in the metrics database with every step,
and a progress line; the row ends ``done``, ``cancelled`` (Ctrl-C, a ``--watch`` restart) or
``failed``, whatever happens inside."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RecordedRun:
    run: int  # the metrics database's run id (data-parallel workers log into it)
    on_step: object  # call with each StepReport
    stats: dict = field(default_factory=dict)  # set by the caller: final_loss and tokens_per_s end the row


@contextlib.contextmanager
def recorded_run(metrics_path: Path, adapter: str, key: str, config: dict, label: str, steps: int, threads: int,
                 quiet: bool = False):
    import torch

    from dlmbuild.train.metrics import MetricsDB
    from dlmbuild.train.progress import Progress

    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads)
    metrics = MetricsDB(metrics_path)
    run = metrics.start_run(adapter, key, config)
    progress = Progress(label, steps, quiet=quiet)

    def on_step(report) -> None:
        metrics.log_step(run, report.step, report.loss, report.lr, report.tokens, report.tokens_per_s, report.seconds)
        progress.update(report)

    record = RecordedRun(run, on_step)
    status = "failed"
    try:
        yield record
        status = "done"
    except KeyboardInterrupt:
        status = "cancelled"
        raise
    finally:
        torch.set_num_threads(threads_before)
        progress.close()
        metrics.finish_run(run, status, record.stats.get("final_loss"), record.stats.get("tokens_per_s"))
        metrics.close()
