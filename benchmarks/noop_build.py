"""No-op and one-edit rebuild times of `dlm build` on a large document, against a full tokenize
and against `dvc status` on the same tree.

Generates (under benchmarks/_work/noop/) a document with 2,000 sections whose
``training.sources`` names a tree of 10,000 files, builds it once (the full tokenize, the
baseline), then times, each as a whole `dlm build` process:
  (a) a no-op build;
  (b) a rebuild after editing one section, and after editing one source file, as a fraction of
      the full tokenize;
  (c) with --dvc: the same tree as a DVC pipeline (dvc installed into the benchmark's own venv),
      timed with `dvc status` after the same edits; printed as dlm/DVC ratios.
All of it twice, each time in a fresh $DLM_HOME: once with a fresh `dlm build` process doing all
the work, once with `dlm server` running (the baseline full tokenize then also runs in it).

    python benchmarks/noop_build.py [--dvc] [--repeat 5]

Uses the embedded smollm2-135m base from your $DLM_HOME (bases/ is shared, so it is not
converted again).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent / "_work" / "noop"
SECTIONS = 2000
DIRS, FILES_PER_DIR = 100, 100
DLM = [sys.executable, "-m", "dlmbuild"]


def generate() -> Path:
    shutil.rmtree(ROOT, ignore_errors=True)
    tree = ROOT / "tree"
    for d in range(DIRS):
        folder = tree / f"pkg{d:03d}"
        folder.mkdir(parents=True)
        for f in range(FILES_PER_DIR):
            (folder / f"note{f:03d}.md").write_text(f"# Note {d}.{f}\n\nFile {f} of package {d} records fact number {d * 1000 + f}.\n")
    parts = ["---", "dlm_id: 01JD5ZQ8V7W9X2Y3Z4A5B6C7D8", "base_model: smollm2-135m", "training:",
             "  sequence_len: 256", "  sources:", "    - path: tree", "      include: ['**/*.md']", "---"]
    for i in range(SECTIONS):
        if i % 2:
            parts += ["::instruction::", "### Q", f"What is fact {i}?", "### A", f"Fact {i} is that item {i} weighs {i * 3} grams.", ""]
        else:
            parts += ["::prose::", f"Paragraph {i} explains that the value of item {i} is {i * 7}.", ""]
    doc = ROOT / "big.dlm"
    doc.write_text("\n".join(parts))
    old = time.time() - 3600  # files written an hour ago, as in a real checkout
    for dirpath, _dirs, files in os.walk(ROOT):
        for name in files:
            os.utime(os.path.join(dirpath, name), (old, old))
    return doc


def env(name: str) -> dict[str, str]:
    """A fresh $DLM_HOME per mode (so each starts from an empty cache), sharing the real bases."""
    home = ROOT / f"home-{name}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    real_bases = Path(os.environ.get("DLM_HOME") or Path.home() / ".dlm") / "bases"
    if real_bases.exists():
        os.symlink(real_bases, home / "bases")
    return {**os.environ, "DLM_HOME": str(home), "HF_HUB_OFFLINE": "1"}


def timed(cmd: list[str], environ: dict[str, str], cwd: Path = ROOT) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=environ, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(mode: str, doc: Path, repeat: int) -> dict[str, float]:
    """Full tokenize, no-op and one-edit rebuilds, each a whole `dlm build` process; in mode
    'server' a `dlm server` runs for the store and answers the builds the stamp does not."""
    environ = env(mode)
    if mode == "server":
        subprocess.run(DLM + ["server", "start"], env=environ, check=True, stdout=subprocess.DEVNULL)
    build = DLM + ["build", str(doc), ":tokenize"]  # the engine, not training, is measured here
    try:
        full = timed(build, environ)
        noop = statistics.median(timed(build, environ) for _ in range(repeat))
        section_times, file_times = [], []
        target_file = ROOT / "tree" / "pkg042" / "note042.md"
        marker = re.compile(r"value of item 10 (\(\w+\) )?is")
        for n in range(1, repeat + 1):
            doc.write_text(marker.sub(f"value of item 10 ({mode}{n}) is", doc.read_text(), count=1))
            section_times.append(timed(build, environ))
            target_file.write_text(target_file.read_text() + f"{mode} edit {n}\n")
            file_times.append(timed(build, environ))
    finally:
        if mode == "server":
            subprocess.run(DLM + ["server", "stop"], env=environ, check=True, stdout=subprocess.DEVNULL)
    return {"full": full, "noop": noop, "section": statistics.median(section_times), "file": statistics.median(file_times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dvc", action="store_true", help="also time dvc status (installs dvc into a venv under _work)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    doc = generate()
    # pip compiles bytecode when it installs a package; an editable checkout under
    # PYTHONDONTWRITEBYTECODE=1 would otherwise recompile dlm's modules in every process.
    package = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(package / d) for d in ("dlmbuild", "rules", "grammar"))],
                   check=True, stdout=subprocess.DEVNULL)
    print(f"document: {SECTIONS} sections, sources: {DIRS * FILES_PER_DIR} files")
    results = {mode: measure(mode, doc, args.repeat) for mode in ("process", "server")}
    for mode, r in results.items():
        label = "a fresh process per build" if mode == "process" else "with `dlm server` running"
        print(f"\n{label}:")
        print(f"  full tokenize (baseline):       {r['full']:7.2f} s")
        print(f"  (a) no-op build:                {r['noop']:7.3f} s   (aim < 0.3 s)")
        print(f"  (b) one section edited:         {r['section']:7.3f} s = {r['section'] / r['full']:6.1%} of full   (aim < 5 %)")
        print(f"  (b) one source file edited:     {r['file']:7.3f} s = {r['file'] / r['full']:6.1%} of full   (aim < 5 %)")
    if args.dvc:
        dvc_compare(doc, ROOT / "tree" / "pkg042" / "note042.md", results["process"]["noop"], args.repeat)


def dvc_compare(doc: Path, target_file: Path, dlm_noop: float, repeat: int) -> None:
    venv = ROOT.parent / "dvc-venv"
    if not (venv / "bin" / "dvc").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "dvc"], check=True)
    dvc = str(venv / "bin" / "dvc")
    plain = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    subprocess.run([dvc, "init", "--no-scm", "-f"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    (ROOT / "dvc.yaml").write_text(
        "stages:\n  tokenize:\n    cmd: python3 -c \"open('out.txt','w').write('built')\"\n"
        "    deps:\n      - big.dlm\n      - tree\n    outs:\n      - out.txt\n"
    )
    subprocess.run([dvc, "repro"], cwd=ROOT, env=plain, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status = [dvc, "status"]
    noop = statistics.median(timed(status, plain) for _ in range(repeat))
    doc.write_text(doc.read_text().replace("value of item 12 is", "value of item 12 (dvc) is", 1))
    after_section = timed(status, plain)
    target_file.write_text(target_file.read_text() + "dvc edit\n")
    after_file = timed(status, plain)
    print(f"(c) dvc status, no change:        {noop:7.3f} s   dlm/DVC = {dlm_noop / noop:.3f} ({noop / dlm_noop:.1f}x faster)")
    print(f"(c) dvc status, section edited:   {after_section:7.3f} s")
    print(f"(c) dvc status, file edited:      {after_file:7.3f} s")


if __name__ == "__main__":
    main()
