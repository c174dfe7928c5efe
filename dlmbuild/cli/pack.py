"""``dlm pack DOC``, ``dlm unpack PACK [DIR]`` and ``dlm verify PACK``: a document and what it
built, as one verifiable file (see dlmbuild/pack)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import typer

from dlmbuild.errors import EXIT_VERIFY_MISMATCH, UsageError

SUFFIX = ".dlm.pack"


def pack(
    doc: Path = typer.Argument(..., help="The .dlm document (built: its dlm.lock and store are packed)."),
    out: Path = typer.Option(None, "--out", "-o", help=f"The pack to write (default: DOC with {SUFFIX})."),
    include_exports: bool = typer.Option(False, "--include-exports", help="Also pack the installed export bundles."),
    include_base: bool = typer.Option(False, "--include-base", help="Also pack the base's weights (only a base whose licence allows it), so unpacking needs no local base."),
) -> None:
    """Write DOC, its sources, dlm.lock and everything its lock records into one .dlm.pack."""
    from dlmbuild.pack.write import pack_document

    target = out or doc.with_name(doc.name.removesuffix(".dlm") + SUFFIX)
    manifest, count = pack_document(doc, target, include_exports=include_exports, include_base=include_base)
    typer.echo(f"dlm: packed {count} files ({manifest['total_size'] / 1e6:.1f} MB) into {target} "
               f"({target.stat().st_size / 1e6:.1f} MB)")


def unpack(
    pack_file: Path = typer.Argument(..., metavar="PACK", help="The .dlm.pack file."),
    dest: Path = typer.Argument(None, metavar="DIR", help="Folder for the document (default: the pack's name)."),
    force: bool = typer.Option(False, "--force", help="Unpack into a non-empty folder; make the pack's adapters current."),
) -> None:
    """Restore a pack: the document into DIR, what it built into the store."""
    from dlmbuild.pack.restore import unpack as restore
    from dlmbuild.store.layout import dlm_home

    if not pack_file.is_file():
        raise UsageError(f"{pack_file}: no such file")
    folder = dest or Path(pack_file.name.removesuffix(SUFFIX))
    doc, manifest, base = restore(pack_file, folder, home=dlm_home(), force=force)
    rebuilt = manifest.get("rebuilt") or []
    then = (f"`dlm build {doc}` remakes {', '.join(rebuilt)} from the base and trains nothing" if rebuilt
            else f"`dlm build {doc}` has nothing to do")
    key = manifest.get("base_model")
    if base is not None and base[0] == "installed":
        then = f"installed its base {key} into {base[1]}; {then}"
    elif base is not None and base[0] == "same":
        then = f"its base {key} resolves here already (the packed copy was not installed); {then}"
    elif base is not None:
        then = f"another {key} resolves here and wins over the packed copy, so `dlm build {doc}` retrains on it"
    typer.echo(f"dlm: unpacked {doc} and its store; {then}")


def verify_pack_file(pack_file: Path, rebuild: bool) -> None:
    """Every member against the manifest, then every locked target against its packed entry;
    with ``rebuild``, the locked targets rebuilt from scratch and compared (as ``dlm verify DOC``)."""
    from dlmbuild.engine.lockfile import read_locks
    from dlmbuild.pack.archive import extract_pack
    from dlmbuild.pack.restore import check_manifest

    manifest = check_manifest(pack_file)
    scratch = Path(tempfile.mkdtemp(prefix="dlm-verify-pack-"))
    try:
        unpacked = scratch / "pack"
        extract_pack(pack_file, unpacked)
        doc = unpacked / "doc" / manifest["document"]
        lock = read_locks(doc.parent / "dlm.lock", manifest.get("machine_class", "")).get(doc.name)
        problems = lock_problems(unpacked, lock, set(manifest.get("rebuilt", [])))
        if manifest.get("base_included") is True and not problems:
            problems = base_problems(unpacked, manifest, lock)
        if not problems and rebuild:
            problems = rebuild_problems(unpacked, manifest, doc, lock, scratch)
        if problems:
            for line in problems:
                typer.echo(line, err=True)
            raise typer.Exit(EXIT_VERIFY_MISMATCH)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    how = "rebuilt and match" if rebuild else "are in it and match"
    packed = len(lock.targets) - len(set(manifest.get("rebuilt", [])) & set(lock.targets))
    base = "; its base matches the lock's fingerprints" if manifest.get("base_included") is True else ""
    typer.echo(f"verified: {pack_file.name}: {len(manifest['members'])} members match the manifest; "
               f"the lock's {packed} packed target(s) {how}{base}")


def lock_problems(unpacked: Path, lock, rebuilt: set[str]) -> list[str]:
    """Each locked target's packed entry against the lock (``rebuilt`` ones hold the base's
    weights and are not packed)."""
    import json

    if lock is None or not lock.targets:
        return ["  the pack's dlm.lock has no entry for its document"]
    out = []
    for name, target in sorted(lock.targets.items()):
        if name in rebuilt:
            continue
        entry = unpacked / "store" / "actions" / target.key[:2] / target.key / "manifest.json"
        if not entry.is_file():
            out.append(f"  {name}: locked output {target.key[:12]} is not in the pack")
            continue
        packed = json.loads(entry.read_text(encoding="utf-8"))
        if packed.get("output_hash") != target.output or packed.get("files") != target.files:
            out.append(f"  {name}: the packed output differs from the lock ({str(packed.get('output_hash'))[:12]} vs {target.output[:12]})")
    return out


def base_problems(unpacked: Path, manifest: dict, lock) -> list[str]:
    """A pack that carries its base: the base is the one its lock names, by its fingerprints."""
    from dlmbuild.pack.base import BASE, fingerprint_problem

    if lock.base != manifest.get("base") or lock.base.get("key") != manifest.get("base_model"):
        return [f"  base: the pack's dlm.lock does not name the base its manifest does ({manifest.get('base_model')})"]
    if not (unpacked / BASE).is_dir():
        return ["  base: the manifest says the pack carries its base but it holds no base/ files"]
    problem = fingerprint_problem(unpacked / BASE, lock.base)
    return [f"  {problem}"] if problem else []


def rebuild_problems(unpacked: Path, manifest: dict, doc: Path, lock, scratch: Path) -> list[str]:
    """``dlm verify DOC`` on the unpacked document, with the pack's replay corpus as history.
    The bases of this machine are used; a packed base that does not resolve here is installed
    into the throwaway home (beside links to this machine's other bases), never into the real one."""
    from dlmbuild.cli.verify import verify_against
    from dlmbuild.pack.base import BASE, install_base
    from dlmbuild.pack.restore import local_base
    from dlmbuild.store.layout import dlm_home

    home = scratch / "home"
    (home / "store" / manifest["dlm_id"]).mkdir(parents=True)
    if (unpacked / "store" / "replay").is_dir():
        shutil.copytree(unpacked / "store" / "replay", home / "store" / manifest["dlm_id"] / "replay")
    real_bases = dlm_home() / "bases"
    if manifest.get("base_included") is True and local_base(manifest, doc.parent, dlm_home()) is None:
        (home / "bases").mkdir()
        for child in sorted(real_bases.iterdir()) if real_bases.is_dir() else []:
            if child.name != "packed" and not child.name.startswith("."):
                os.symlink(child, home / "bases" / child.name)
        install_base(unpacked / BASE, lock.base, home)
    elif real_bases.exists():
        os.symlink(real_bases, home / "bases")
    previous = os.environ.get("DLM_HOME")
    os.environ["DLM_HOME"] = str(home)
    try:
        return verify_against(doc, lock)[0]
    finally:
        if previous is None:
            os.environ.pop("DLM_HOME", None)
        else:
            os.environ["DLM_HOME"] = previous
