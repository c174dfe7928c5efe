"""``dlm verify DOC``: rebuild the locked targets from scratch and compare with ``dlm.lock``.
``dlm verify PACK`` checks a ``.dlm.pack`` instead (see cli/pack.py).

The rebuild runs in a throwaway store (a temporary ``$DLM_HOME``) that shares only the
store-wide base cache, whose weights are themselves checked against the lock's base hashes, and
starts from a copy of the document's replay corpus (history is an input of training).

What is compared depends on the machine class (``train/machine_class.py``): on a machine of a
class the lock holds, every output byte for byte; on another class, the shared outputs byte for
byte and each adapter's behaviour within a tolerance (``cli/verify_check.py``). ``--strict``
demands bytes; ``--record`` adds this machine's class to the lock once everything else checks
out, and migrates a lock from an older dlm. A mismatch prints each difference and exits 4.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import typer

from dlmbuild.cli.common import lock_from, make_engine, open_project
from dlmbuild.engine.lockfile import LOCK_VERSION, lock_path, read_lock, write_lock
from dlmbuild.errors import EXIT_VERIFY_MISMATCH, DlmError, UsageError
from dlmbuild.store.layout import dlm_home


def verify(
    doc: Path = typer.Argument(..., help="The .dlm document, or a .dlm.pack."),
    rebuild: bool = typer.Option(False, "--rebuild", help="For a pack: also rebuild its locked targets and compare."),
    strict: bool = typer.Option(False, "--strict", help="Demand identical bytes even on another machine class (refused "
                                "where the lock has no goldens for this one)."),
    record: bool = typer.Option(False, "--record", help="Once verified, add this machine class's goldens to dlm.lock "
                                "(the others are kept); also migrates a lock from an older dlm."),
    tolerance: str = typer.Option(None, "--tolerance", help="Across classes: the largest log-probability difference "
                                  "allowed (default: the document's verify.tolerance, 1.0)."),
) -> None:
    """Rebuild locked targets in a scratch store and compare them with dlm.lock: bytes on a
    machine of a recorded class, behaviour within a tolerance on another (a .dlm.pack: check
    every member's hash and the lock against what it carries)."""
    if doc.name.endswith(".dlm.pack"):
        from dlmbuild.cli.pack import verify_pack_file

        verify_pack_file(doc, rebuild)
        return
    from dlmbuild.cli.verify_check import parse_tolerance
    from dlmbuild.project import Project
    from dlmbuild.train.machine_class import document_class

    project = Project.open(doc)
    mine = document_class(project)
    lock = read_lock(doc, mine.name)
    if lock is None or not (lock.shared or lock.classes):
        raise DlmError(f"{lock_path(doc)} has no entry for {doc.name}; run `dlm build {doc}` first")
    if lock.version < LOCK_VERSION and not record:
        raise UsageError(f"{lock_path(doc).name} was written by an older dlm (lock version {lock.version}, without machine "
                         f"classes); run `dlm verify --record {doc}` to migrate it")
    limit = parse_tolerance(tolerance, project.doc.config.verify.tolerance)
    problems, summary = verify_against(doc, lock, tolerance=limit, strict=strict, record=record, mine=mine)
    if problems:
        for line in problems:
            typer.echo(line, err=True)
        raise typer.Exit(EXIT_VERIFY_MISMATCH)
    typer.echo(summary)


def verify_against(doc: Path, lock, *, tolerance: float = 1.0, strict: bool = False, record: bool = False,
                   mine=None) -> tuple[list[str], str]:
    """(problem lines, the summary line) of rebuilding ``doc`` and comparing with ``lock``;
    with ``record``, a clean result also writes this machine's class into the lock. The lock is
    viewed from this machine's class ``mine`` (worked out here when not given), whoever read it:
    a pack's lock names its packer's."""
    import dataclasses

    from dlmbuild.cli.verify_check import answers_phrase, class_difference, compare_across, compare_bytes, reference_class

    if mine is None:
        from dlmbuild.project import Project
        from dlmbuild.train.machine_class import document_class

        mine = document_class(Project.open(doc))
    lock = dataclasses.replace(lock, here=mine.name)
    legacy = lock.version < LOCK_VERSION
    reference = None if legacy else reference_class(lock, lock.here, strict=strict)
    goldens = lock.classes.get(reference) if reference else None
    wanted = set(lock.shared) | (set(goldens.targets) if goldens else set())
    with rebuilt_in_scratch(doc, wanted) as (project, graph, results, had_replay):
        problems = [f"  {n}: in the lock but no longer a target of the document" for n in sorted(wanted - set(graph.targets))]
        problems += base_problems(project, lock)
        shared = {n: t for n, t in lock.shared.items() if n in graph.targets}
        if legacy:  # every target of an old lock was listed once: the shared ones must match here
            shared = {n: t for n, t in shared.items() if n in results and not results[n].machine_bound}
        ok, mismatched = compare_bytes(shared, results)
        problems += mismatched
        if not had_replay and any(line.startswith("  MISMATCH  :data-") for line in mismatched):
            problems.append("  (a :data target replays rows of earlier builds, kept in $DLM_HOME on the machine that built "
                            "them, and this machine has none for this document: a pack carries them, so verify "
                            "`dlm pack` output with `dlm verify PACK --rebuild`)")
        if goldens is not None and reference == lock.here:
            mine_ok, mismatched = compare_bytes({n: t for n, t in goldens.targets.items() if n in graph.targets}, results)
            ok += mine_ok
            problems += mismatched
            summary = f"verified: {len(ok)} target(s) reproduce {lock_path(doc).name} byte for byte (class {lock.here})"
        elif goldens is not None:
            report = compare_across(goldens, {n: r for n, r in results.items() if n in goldens.targets}, tolerance,
                                    lambda name: _rebuilt_probes(results, name), _describer(project, goldens))
            problems += report.problems
            summary = (f"verified across classes ({class_difference(mine.as_dict(), goldens.machine)}; {lock.here} against "
                       f"the lock's {reference}): max logit difference {report.max_diff:.4f} (tolerance {tolerance:g}), "
                       f"{answers_phrase(report, tolerance)} of {report.probed} adapter(s); "
                       f"{len(ok)} shared target(s) byte for byte")
            if report.derived:
                summary += f"; {len(report.derived)} built from them not compared ({', '.join(report.derived)})"
            if report.unprobed:
                summary += f"; {len(report.unprobed)} without probes not compared ({', '.join(report.unprobed)})"
        else:
            summary = f"verified: {len(ok)} target(s) reproduce {lock_path(doc).name} byte for byte"
        if record and not problems:
            summary += "\n" + record_class(project, graph, results, lock)
    return problems, summary


@contextlib.contextmanager
def rebuilt_in_scratch(doc: Path, names: set[str]):
    """Rebuild ``names`` (those still targets of the document) in a throwaway home; yields
    (project, graph, results by name, whether this machine had a replay corpus to start from)
    while the rebuilt outputs exist."""
    scratch = Path(tempfile.mkdtemp(prefix="dlm-verify-"))
    try:
        real_bases = dlm_home() / "bases"
        if real_bases.exists():
            os.symlink(real_bases, scratch / "bases")
        project, graph = open_project(doc, scratch, materialize_base=True, options={"quiet": True})
        # The replay corpus is an input of :data-<adapter> (what earlier builds trained on), so
        # the rebuild starts from a copy of it; everything else is rebuilt from nothing.
        replay = dlm_home() / project.layout.replay.relative_to(scratch)
        if replay.is_dir():
            shutil.copytree(replay, project.layout.replay)
        engine = make_engine(project, graph, quiet=True)
        results = {r.name: r for r in engine.run(sorted(n for n in names if n in graph.targets), jobs=2)}
        yield project, graph, results, replay.is_dir()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def base_problems(project, lock) -> list[str]:
    base = project.resolved_base
    out = []
    if base is not None and lock.base:
        for field, value in (("weights", base.weights_hash), ("tokenizer", base.tokenizer_hash), ("chat_template", base.chat_template_hash)):
            if lock.base.get(field) and lock.base[field] != value:
                out.append(f"  base {field}: locked {lock.base[field][:16]}, resolved {value[:16]}")
    return out


def record_class(project, graph, results, previous) -> str:
    """Write this machine's class (its rebuilt targets and probes) into the lock, keeping the
    other classes; the line that says so."""
    lock, notes = lock_from(project, graph, list(results.values()), previous)
    write_lock(project.doc.path, lock, dlm_home())
    entry = lock.classes.get(lock.here)
    probes = sum(len(p) for p in entry.probes.values()) if entry else 0
    migrated = f" (migrated from lock version {previous.version})" if previous.version < LOCK_VERSION else ""
    lines = [f"recorded class {lock.here} in {lock_path(project.doc.path).name}{migrated}: "
             f"{len(entry.targets) if entry else 0} machine-bound target(s), {probes} probe(s); "
             f"classes: {', '.join(sorted(lock.classes)) or 'none'}"]
    return "\n".join(lines + [f"dlm: {note}" for note in notes])


def _rebuilt_probes(results, name: str) -> dict | None:
    from dlmbuild.train.probes import read_probes

    result = results.get(name)
    return read_probes(result.out_dir) if result is not None and result.out_dir is not None else None


def _describer(project, goldens):
    """Words a diverging probe: the question, the lock's answer, the rebuilt one."""

    def describe(name: str, probe_id: str, rebuilt: dict) -> str:
        from dlmbuild.train.probes import prompt_of
        from dlmbuild.train.tokenizer import BaseTokenizer

        tokenizer = BaseTokenizer(project.base().path)
        mine = rebuilt.get(probe_id, {})
        locked = goldens.probes.get(name, {}).get(probe_id, {})
        lines = [line.strip() for line in tokenizer.decode(prompt_of(mine), skip_special_tokens=True).splitlines()]
        question = [line for line in lines if line and line not in ("system", "user", "assistant")]
        return (f"{(question[-1] if question else probe_id)!r}: locked {tokenizer.decode(locked.get('argmax', [])).strip()!r}, "
                f"rebuilt {tokenizer.decode(mine.get('argmax', [])).strip()!r}")

    return describe
