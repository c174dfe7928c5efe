"""The one writer of a stored adapter's ``adapter_config.json``, byte-stable.

peft's ``save_pretrained`` writes ``target_modules`` from a set (its order follows Python's hash
randomization, so it changes between runs) and ``base_model_name_or_path`` as the base's local
path (which differs between machines and stores), and adds a README model card naming local
paths. Every PEFT folder dlm keeps or ships (a trained adapter version, the weighted mix saved
for the mlx and HF bundles) passes through ``stabilize_adapter_folder`` right after
``save_pretrained``, so the same adapter gives the same bytes everywhere and ``dlm verify`` and
the lock can compare them.

The base is named by its dlm key, the ``base_model`` value as the document writes it
(``smollm2-135m``, ``hf:org/name@rev``, ``./base``): dlm compares it with the document's base
before serving an adapter (``infer.session.check_same_base``) and before mixing adapters
(``export.mix.check_mixable``). The runtimes ignore the field (vLLM and mlx-lm get the base on
their command line, ``PeftModel.from_pretrained`` takes the loaded base), and a local path
would leak a machine's folders into a shareable bundle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from dlmbuild.store.atomic import atomic_write_text

ADAPTER_CONFIG = "adapter_config.json"
PEFT_README = "README.md"


def adapter_config_text(config: dict, base_key: str, target_modules: Iterable[str] | None = None) -> str:
    """The stable text of ``config``: the base named by ``base_key``, ``target_modules`` sorted
    (``target_modules`` given here replaces the config's own list), keys sorted, two-space
    indent, one trailing newline. A regex ``target_modules`` string is kept as it is."""
    config = dict(config)
    modules = config.get("target_modules") if target_modules is None else list(target_modules)
    if isinstance(modules, (list, tuple, set)):
        config["target_modules"] = sorted(modules)
    config["base_model_name_or_path"] = base_key
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def stabilize_adapter_folder(folder: Path, base_key: str, target_modules: Iterable[str] | None = None) -> None:
    """Rewrite the ``adapter_config.json`` peft just saved in ``folder`` as ``adapter_config_text``
    and remove peft's generated README."""
    path = Path(folder) / ADAPTER_CONFIG
    config = json.loads(path.read_text(encoding="utf-8"))
    atomic_write_text(path, adapter_config_text(config, base_key, target_modules))
    (Path(folder) / PEFT_README).unlink(missing_ok=True)
