"""``dlm verify DOC``: rebuild the locked targets from scratch and compare with ``dlm.lock``.
``dlm verify PACK`` checks a ``.dlm.pack`` instead (see cli/pack.py).

The rebuild runs in a throwaway store (a temporary ``$DLM_HOME``) that shares only the
store-wide base cache, whose weights are themselves checked against the lock's base hashes, and
starts from a copy of the document's replay corpus (history is an input of training). A
mismatch prints each differing target and file and exits 4.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import typer

from dlmbuild.cli.common import make_engine, open_project
from dlmbuild.engine.lockfile import lock_path, read_lock
from dlmbuild.errors import EXIT_VERIFY_MISMATCH, DlmError
from dlmbuild.store.layout import dlm_home


def verify(
    doc: Path = typer.Argument(..., help="The .dlm document, or a .dlm.pack."),
    rebuild: bool = typer.Option(False, "--rebuild", help="For a pack: also rebuild its locked targets and compare."),
) -> None:
    """Rebuild locked targets in a scratch store and compare their hashes with dlm.lock (a
    .dlm.pack: check every member's hash and the lock against what it carries)."""
    if doc.name.endswith(".dlm.pack"):
        from dlmbuild.cli.pack import verify_pack_file

        verify_pack_file(doc, rebuild)
        return
    lock = read_lock(doc)
    if lock is None or not lock.targets:
        raise DlmError(f"{lock_path(doc)} has no entry for {doc.name}; run `dlm build {doc}` first")
    mismatches = verify_against(doc, lock)
    if mismatches:
        for line in mismatches:
            typer.echo(line, err=True)
        raise typer.Exit(EXIT_VERIFY_MISMATCH)
    typer.echo(f"verified: {len(lock.targets)} target(s) reproduce {lock_path(doc).name}")


def verify_against(doc: Path, lock) -> list[str]:
    scratch = Path(tempfile.mkdtemp(prefix="dlm-verify-"))
    try:
        real_bases = dlm_home() / "bases"
        if real_bases.exists():
            os.symlink(real_bases, scratch / "bases")
        project, graph = open_project(doc, scratch, materialize_base=True)
        # The replay corpus is an input of :data-<adapter> (what earlier builds trained on), so
        # the rebuild starts from a copy of it; everything else is rebuilt from nothing.
        replay = dlm_home() / project.layout.replay.relative_to(scratch)
        if replay.is_dir():
            shutil.copytree(replay, project.layout.replay)
        names = [n for n in sorted(lock.targets) if n in graph.targets]
        missing = [n for n in sorted(lock.targets) if n not in graph.targets]
        engine = make_engine(project, graph, quiet=True)
        results = {r.name: r for r in engine.run(names, jobs=2)}
        out = [f"  {n}: in the lock but no longer a target of the document" for n in missing]
        base = project.resolved_base
        if base is not None and lock.base:
            for field, value in (("weights", base.weights_hash), ("tokenizer", base.tokenizer_hash), ("chat_template", base.chat_template_hash)):
                if lock.base.get(field) and lock.base[field] != value:
                    out.append(f"  base {field}: locked {lock.base[field][:16]}, resolved {value[:16]}")
        for name in names:
            expected, got = lock.targets[name], results.get(name)
            if got is None or got.status not in ("built", "cached"):
                out.append(f"  {name}: did not build ({got.error if got else 'not run'})")
                continue
            if got.output_hash == expected.output:
                typer.echo(f"  ok        {name}")
                continue
            out.append(f"  MISMATCH  {name}: output {got.output_hash[:16]} != locked {expected.output[:16]}")
            for rel in sorted(set(expected.files) | set(got.files)):
                a, b = expected.files.get(rel), got.files.get(rel)
                if a != b:
                    out.append(f"            {rel}: locked {str(a)[:16]}, rebuilt {str(b)[:16]}")
        return out
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
