"""Which adapters an export merges, and with what weights: checked before any weight loads.

An export takes the document's adapters at weight 1.0, one adapter (``--adapter NAME``), or a
weighted mix (``--adapter-mix a:1.0,b:0.5``). A mix is the exact weighted sum of the adapters'
deltas: peft's ``add_weighted_adapter`` with ``combination_type="cat"`` stacks the low-rank
factors (rank = sum of ranks) with each ``B`` scaled by its weight and scaling, so
``ΔW = Σ wᵢ·sᵢ·BᵢAᵢ`` with no approximation. What cannot be summed exactly is refused here in one
line: DoRA adapters (their magnitude vector does not add), and QLoRA adapters unless the user
asks for a dequantized merge (``--dequantize --merged``), since the sum is then taken against the
full-precision base rather than the 4-bit one they were trained on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from dlmbuild.errors import DocumentError, UsageError

_ITEM = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*(?::\s*([-+0-9.eE]+))?\s*$")


@dataclass(frozen=True)
class MixItem:
    """One adapter of a selection and its weight (``--adapter-mix a:1.0,b:0.5``)."""

    adapter: str
    weight: float


def parse_mix(text: str) -> tuple[MixItem, ...]:
    """``"a:1.0,b:0.5"`` → items; a bare name means weight 1.0."""
    items = []
    for part in text.split(","):
        match = _ITEM.match(part)
        if not match:
            raise UsageError(f"--adapter-mix: cannot read {part.strip()!r}; write name:weight[,name:weight...]")
        try:
            weight = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            raise UsageError(f"--adapter-mix: {match.group(2)!r} is not a number") from None
        items.append(MixItem(match.group(1), weight))
    names = [i.adapter for i in items]
    if len(set(names)) != len(names):
        raise UsageError("--adapter-mix names an adapter twice")
    return tuple(items)


def select(known: list[str], adapter: str | None, mix: str | None) -> tuple[MixItem, ...]:
    """The adapters to merge, checked against the document's adapter names."""
    if adapter and mix:
        raise UsageError("use --adapter or --adapter-mix, not both")
    items = parse_mix(mix) if mix else (MixItem(adapter, 1.0),) if adapter else tuple(MixItem(n, 1.0) for n in known)
    for item in items:
        if item.adapter not in known:
            from dlmbuild.util.suggest import did_you_mean

            raise DocumentError(f"unknown adapter '{item.adapter}'{did_you_mean(item.adapter, known)}; "
                                f"the document trains: {', '.join(known)}")
    return items


def check_mixable(items: tuple[MixItem, ...], folders: dict[str, Path], kinds: dict[str, str], *, dequantize: bool) -> None:
    """Refuse, before loading weights, a combination that cannot be merged exactly."""
    if len(items) == 1 and items[0].weight == 1.0:
        return
    configs = {i.adapter: json.loads((folders[i.adapter] / "adapter_config.json").read_text(encoding="utf-8")) for i in items}
    dora = [name for name, c in configs.items() if c.get("use_dora")]
    if dora:
        raise UsageError(f"cannot mix DoRA adapter '{dora[0]}': a DoRA magnitude does not add; export DoRA adapters one at a time (--adapter)")
    qlora = [i.adapter for i in items if kinds.get(i.adapter) == "qlora"]
    if qlora and not dequantize:
        raise UsageError(f"adapter '{qlora[0]}' is QLoRA: mixing merges it into the full-precision base; "
                         f"pass --dequantize --merged to accept that")
    bases = {c.get("base_model_name_or_path") for c in configs.values()}
    if len(bases) > 1:
        raise UsageError(f"cannot mix adapters trained on different bases: {', '.join(sorted(map(str, bases)))}")


def label(items: tuple[MixItem, ...]) -> str:
    """The selection as the user writes it (``a:1,b:0.5``), for logs and the HF README."""
    return ",".join(f"{i.adapter}:{i.weight:g}" for i in items)
