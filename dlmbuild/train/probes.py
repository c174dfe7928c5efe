"""Behaviour probes: what ``dlm verify`` compares when two machines of different classes cannot
produce the same bytes (``train/machine_class.py``).

The probe set is derived from the document, deterministically: its own Q/A rows (the first
``MAX_PROBES`` in row order), or, for a document without any, its first prose rows. Each probe
is one teacher-forced forward pass along the row's reference tokens, in float32 with dropout
off, like prompting and ``train/reproduce.py``. At each of the first ``MAX_POSITIONS`` labelled
positions it records:
  - the top choice (argmax token): identical choices along the whole span mean greedy
    decoding of the prompt follows the same path (by induction over positions), i.e. the
    same answer, at the cost of one forward pass instead of a generation;
  - the log-probability of that top choice, rounded to ``DECIMALS``: how sure the model is of
    what it says, a logit difference measured after log-softmax (so it does not move when all
    logits shift together). Not the document's token's: where the model does not say it, that
    token's log-probability is far down the tail, where it swings by whole units between
    machines without changing a single answer (measured: 0.68 at a -9.7 tail token);
  - the margin between the top two choices: how decided the model was there. Where it was
    nearly a tie, another machine's rounding may flip the choice without anything being wrong
    (measured: an under-trained adapter, bf16 against float32, flips a near-tie inside a name);
    ``compare`` counts such a flip as *undecided*, not as a divergence, when the locked margin
    is within the tolerance.
``train`` computes them on the freshly trained model (no reload), writes them beside the
adapter, and ``dlm.lock`` keeps them as the class's goldens. Probes computed from a saved
adapter (``probe_saved``) give the same numbers: the in-memory and reloaded models run the same
float32 arithmetic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dlmbuild.train.packing import IGNORE, row_labels
from dlmbuild.train.reproduce import answer_rows

PROBES_FILE = "probes.json"
MAX_PROBES = 16
MAX_POSITIONS = 32
DECIMALS = 4


@dataclass(frozen=True)
class Probe:
    """One probe's input: the row's tokens up to its last probed position, and those positions."""

    id: str
    input_ids: tuple[int, ...]
    positions: tuple[int, ...]  # indices p whose token is predicted from logits[p - 1]


def probe_set(rows: list[dict]) -> list[Probe]:
    """The document's probes: Q/A rows if it has any, else prose rows (both in row order)."""
    import xxhash

    chosen = answer_rows(rows) or [row for row in rows if len(row.get("input_ids", ())) > 1]
    out, seen = [], set()
    for row in chosen:
        labels = row_labels(row)
        positions = [p for p, label in enumerate(labels) if label != IGNORE][:MAX_POSITIONS]
        if not positions:
            continue
        ids = tuple(row["input_ids"][: positions[-1] + 1])
        probe_id = xxhash.xxh3_128_hexdigest(json.dumps([ids, positions]).encode())[:16]
        if probe_id in seen:  # the same row twice (a repeated pair) is one probe
            continue
        seen.add(probe_id)
        out.append(Probe(probe_id, ids, tuple(positions)))
        if len(out) == MAX_PROBES:
            break
    return out


def run_probes(model, probes: list[Probe], device: str = "cpu") -> dict[str, dict]:
    """``{probe id: {"argmax", "logprob", "margin", "input_ids", "positions": [...]}}``
    for ``model`` as it is now (float32, eval mode, no autocast; its train/eval mode is
    restored). The probe's own tokens and positions let a later phase (``:prefer``) probe its
    adapter alike and ``dlm verify`` show a diverging question; the lock does not keep them."""
    import torch

    was_training = model.training
    model.eval()
    out: dict[str, dict] = {}
    try:
        with torch.no_grad(), torch.autocast(device_type=device, enabled=False):
            for probe in probes:
                ids = torch.tensor([probe.input_ids], device=device)
                logits = model(input_ids=ids, use_cache=False).logits[0].float()
                logp = torch.log_softmax(logits, dim=-1)
                before = [p - 1 for p in probe.positions]
                top2 = logp[before].topk(2, dim=-1).values
                out[probe.id] = {"argmax": logits[before].argmax(-1).tolist(),
                                 "logprob": [round(float(v), DECIMALS) for v in top2[:, 0]],
                                 "margin": [round(float(v), DECIMALS) for v in top2[:, 0] - top2[:, 1]],
                                 "input_ids": list(probe.input_ids), "positions": list(probe.positions)}
    finally:
        model.train(was_training)
    return out


def probes_of(probes: dict[str, dict]) -> list[Probe]:
    """The probe set a ``probes.json`` was made from (so the preference phase probes the same)."""
    return [Probe(pid, tuple(p["input_ids"]), tuple(p["positions"])) for pid, p in sorted(probes.items())]


def prompt_of(probe: dict) -> list[int]:
    """The tokens before a probe's first probed position: its question."""
    return list(probe.get("input_ids", []))[: (probe.get("positions") or [0])[0]]


def write_probes(out_dir: Path, probes: dict[str, dict]) -> None:
    (out_dir / PROBES_FILE).write_text(json.dumps(probes, sort_keys=True, indent=1) + "\n", encoding="utf-8")


def read_probes(out_dir: Path) -> dict[str, dict] | None:
    path = out_dir / PROBES_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def goldens(probes: dict[str, dict]) -> dict[str, dict]:
    """What the lock keeps of each probe: its choices, log-probabilities and margins."""
    return {pid: {"argmax": list(p["argmax"]), "logprob": list(p["logprob"]), "margin": list(p.get("margin", []))}
            for pid, p in sorted(probes.items())}


@dataclass(frozen=True)
class ProbeVerdict:
    total: int  # probes in the golden set
    same: int  # of them, with identical top choices at every probed position
    max_diff: float  # the largest log-probability difference over the positions where the locked adapter was decided
    first_divergence: str = ""  # probe id of the first whose choices differ where it was decided
    missing: tuple[str, ...] = ()  # golden probes the rebuilt adapter did not have
    undecided: int = 0  # probes whose choices differ only where the locked adapter was undecided

    def passes(self, tolerance: float) -> bool:
        return not self.missing and self.same + self.undecided == self.total and self.max_diff <= tolerance


def compare(golden: dict[str, dict], rebuilt: dict[str, dict], tolerance: float = 0.0) -> ProbeVerdict:
    """The rebuilt adapter's probes against the lock's goldens (matched by probe id).

    Positions where the locked margin was within ``tolerance`` are *undecided*: a near-tie,
    where any rounding moves the choice and its probability (measured, an under-trained
    adapter in bf16 against float32: 1.17 apart at a 0.03 margin, while no decided position
    moved more than 0.48). A differing choice there makes the probe undecided, not divergent,
    and their log-probabilities do not enter ``max_diff``. A golden without margins (an
    adapter probed before margins were recorded) treats every position as decided."""
    same, undecided, worst, first, missing = 0, 0, 0.0, "", []
    for pid in sorted(golden):
        mine, locked = rebuilt.get(pid), golden[pid]
        if mine is None:
            missing.append(pid)
            continue
        margins = list(locked.get("margin") or [])
        flips = [i for i, (a, b) in enumerate(zip(locked["argmax"], mine["argmax"])) if a != b]
        if len(mine["argmax"]) != len(locked["argmax"]):
            flips.append(-1)
        if not flips:
            same += 1
        elif all(0 <= i < len(margins) and margins[i] <= tolerance for i in flips):
            undecided += 1
        elif not first:
            first = pid
        decided = [i >= len(margins) or margins[i] > tolerance for i in range(len(locked["logprob"]))]
        diffs = [abs(a - b) for a, b, keep in zip(locked["logprob"], mine["logprob"], decided) if keep]
        worst = max([worst, *diffs])
    return ProbeVerdict(len(golden), same, round(worst, DECIMALS), first, tuple(missing), undecided)


def probe_adapter(base, adapter_dir: Path, probes: list[Probe], device: str = "cpu") -> dict[str, dict]:
    """Probes of the adapter saved in ``adapter_dir`` on the loaded ``base``, which is given
    back as it was (the adapter layers come off again)."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(base, str(adapter_dir))
    try:
        return run_probes(model, probes, device)
    finally:
        model.unload()


def probe_saved(base_path: Path, adapter_dir: Path, rows: list[dict]) -> dict[str, dict]:
    """Probes of a saved adapter on its base (what a test uses to check a perturbed adapter)."""
    from dlmbuild.train.base_model import load_base

    return probe_adapter(load_base(base_path), adapter_dir, probe_set(rows))
