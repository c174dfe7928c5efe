"""The import direction of docs/engine.md and ARCHITECTURE.md, checked on the source.

Arrows point down: cli -> rules -> capabilities (bases, train, infer, export) -> project ->
engine / document / store -> util. Every ``import`` of a ``dlmbuild`` module anywhere in a file
counts, inside functions and under ``TYPE_CHECKING`` too: a lazy import is still a dependency,
only a cheaper one. A package imports itself freely.

``ALLOWED`` lists, per package, the packages (or single modules) it may import; a package not
in the table fails the test until it is placed. ``EXCEPTIONS`` are arrows that point the wrong
way today, each with the change that removes it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BOTTOM = {"util", "errors", "__init__"}  # dlmbuild/__init__.py holds only __version__
STORAGE = BOTTOM | {"store"}
ALLOWED: dict[str, set[str]] = {
    "util": set(),  # imports no other dlmbuild package
    "errors": set(),
    "__init__": set(),
    "grammar": set(),
    "store": BOTTOM,
    "engine": STORAGE,  # generic: knows no document, rule or model
    # leaf tables (they import nothing) that base_model and export.targets are validated against
    "document": STORAGE | {"bases.registry", "export.kinds"},
    "bases": STORAGE,
    "project": STORAGE | {"engine", "document", "bases"},
    "train": STORAGE | {"document", "bases"},
    "infer": STORAGE | {"document", "bases", "train"},
    "export": STORAGE | {"document", "bases", "train", "infer"},  # the smoke test generates
    "eval": STORAGE | {"document", "bases", "train", "infer"},  # probes generate through infer
    "synth": STORAGE | {"document", "bases", "train", "infer", "export"},  # gguf teachers run through export.native
    "mine": STORAGE | {"document", "bases", "train", "infer"},
    # multimodal bases: what VL and audio-language models share, then a VL model (images), a
    # speech model (clips) and an audio-language model (clips and text), each its own room
    "multimodal": STORAGE | {"train"},
    "vision": STORAGE | {"document", "bases", "train", "infer", "export", "multimodal"},
    "speech": STORAGE | {"document", "bases", "train", "infer"},
    "audiolm": STORAGE | {"train", "speech", "multimodal"},
    "gate": STORAGE | {"document", "export"},  # features come from llama.cpp, run through export.native
    "serve": STORAGE | {"train", "gate", "export"},  # tokenizer, router, worker isolation
    # pack and remote work on a built project, beside the build server: they read its graph (is
    # the lock current?) through rules, and nothing below imports them
    "pack": STORAGE | {"engine", "document", "bases", "project", "rules"},
    "remote": STORAGE | {"engine", "bases", "pack", "project", "rules"},  # the action cache it feeds, licences, packs to push
    "rules": STORAGE | {"engine", "document", "bases", "train", "infer", "export", "eval", "gate", "serve", "vision", "speech",
                        "audiolm", "multimodal", "project", "rules"},
    "server": STORAGE | {"engine", "document", "grammar", "rules", "project"},  # never cli: cli -> server
    "cli": STORAGE | {"engine", "document", "bases", "train", "infer", "export", "eval", "synth", "mine", "gate", "serve", "pack", "remote", "vision", "speech", "audiolm", "multimodal", "project", "rules", "server", "grammar"},
    "__main__": {"cli"},
}

# (importing file, imported module) -> what removes the exception.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _package(rel: str) -> str:
    """The layer of a source file: ``dlmbuild/engine/graph.py`` -> ``engine``, ``rules/x.py`` ->
    ``rules``, ``dlmbuild/errors.py`` -> ``errors``."""
    parts = Path(rel).with_suffix("").parts
    if parts[0] == "rules":
        return "rules"
    return parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every dlmbuild import in the file, wherever it sits."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    folders = path.relative_to(ROOT).parts[:-1]  # ('dlmbuild', 'engine') or ('rules',)
    package = ".".join(folders if folders[0] == "dlmbuild" else ("dlmbuild", *folders))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            if module == "dlmbuild":  # from dlmbuild import rules / __version__
                found += [(node.lineno, f"dlmbuild.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, module))
    return [(line, name) for line, name in found if name == "dlmbuild" or name.startswith("dlmbuild.")]


def _target(module: str) -> tuple[str, str]:
    """(layer, layer.module) of an imported module: ``dlmbuild.bases.registry`` -> ("bases",
    "bases.registry"); ``dlmbuild.__version__`` and ``dlmbuild`` -> ("__init__", "__init__")."""
    parts = module.split(".")[1:]
    if not parts or parts[0] == "__version__":
        return "__init__", "__init__"
    return parts[0], ".".join(parts[:2])


def violations() -> list[str]:
    out = []
    files = sorted((ROOT / "dlmbuild").rglob("*.py")) + sorted((ROOT / "rules").rglob("*.py"))
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        layer = _package(rel)
        if layer not in ALLOWED:
            out.append(f"{rel}: package '{layer}' is not in tests/test_layering.py's ALLOWED table; place it in a layer")
            continue
        for line, module in _imports(path):
            target, member = _target(module)
            if target == layer or target in ALLOWED[layer] or member in ALLOWED[layer]:
                continue
            if (rel, module) in EXCEPTIONS:
                continue
            allowed = ", ".join(sorted(ALLOWED[layer])) or "no other dlmbuild package"
            out.append(f"{rel}:{line}: {layer} imports {module}, but {layer} may import only {allowed}")
    return out


def test_imports_point_down():
    found = violations()
    assert not found, "imports against the layering (docs/engine.md):\n  " + "\n  ".join(found)


def test_exceptions_are_still_needed():
    """An exception whose import is gone must leave the table, so it cannot hide a new one."""
    present = set()
    for rel, module in EXCEPTIONS:
        if any(name == module for _, name in _imports(ROOT / rel)):
            present.add((rel, module))
    assert present == set(EXCEPTIONS), f"remove from EXCEPTIONS: {sorted(set(EXCEPTIONS) - present)}"


def test_the_check_catches_a_lazy_upward_import(tmp_path, monkeypatch):
    """The checker itself: an import inside a function body is found and named."""
    source = tmp_path / "dlmbuild" / "engine" / "bad.py"
    source.parent.mkdir(parents=True)
    source.write_text("def f():\n    from dlmbuild.cli.build import run_build\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert violations() == [
        "dlmbuild/engine/bad.py:2: engine imports dlmbuild.cli.build, but engine may import only __init__, errors, store, util"
    ]
