"""Training progress: a tqdm bar on a terminal (step, loss, tokens/s, ETA), plain lines otherwise
(CI logs, pipes), at most about twenty of them per run so logs stay readable."""

from __future__ import annotations

import sys
from typing import TextIO

from dlmbuild.train.recipe import StepReport


class Progress:
    def __init__(self, label: str, steps: int, stream: TextIO | None = None, quiet: bool = False):
        self.label = label
        self.steps = steps
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.bar = None
        if not quiet and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=steps, desc=label, file=self.stream, unit="step", dynamic_ncols=True, leave=True)
        self.every = max(1, -(-steps // 20))

    def update(self, report: StepReport) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{report.loss:.3f}", tok_s=f"{report.tokens_per_s:.0f}", refresh=False)
            self.bar.update(1)
            return
        if report.step % self.every == 0 or report.step == report.steps or report.step == 1:
            eta = report.elapsed / report.step * (report.steps - report.step)
            print(f"{self.label}: step {report.step}/{report.steps}  loss {report.loss:.4f}  lr {report.lr:.2e}  "
                  f"{report.tokens_per_s:.0f} tok/s  eta {eta:.0f}s", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
