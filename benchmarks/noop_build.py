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

    python benchmarks/noop_build.py [--dvc] [--repeat 5]

Uses the embedded smollm2-135m base from your $DLM_HOME (bases/ is shared, so it is not
converted again).
"""

from __future__ import annotations

import argparse
import os
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


def env() -> dict[str, str]:
    home = ROOT / "home"
    home.mkdir(exist_ok=True)
    real_bases = Path(os.environ.get("DLM_HOME") or Path.home() / ".dlm") / "bases"
    if real_bases.exists() and not (home / "bases").exists():
        os.symlink(real_bases, home / "bases")
    return {**os.environ, "DLM_HOME": str(home), "HF_HUB_OFFLINE": "1"}


def timed(cmd: list[str], environ: dict[str, str], cwd: Path = ROOT) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=environ, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dvc", action="store_true", help="also time dvc status (installs dvc into a venv under _work)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    doc = generate()
    environ = env()
    build = DLM + ["build", str(doc), ":tokenize"]  # the engine, not training, is measured here
    print(f"document: {SECTIONS} sections, sources: {DIRS * FILES_PER_DIR} files")
    full = timed(build, environ)
    print(f"full tokenize (baseline):         {full:7.2f} s")
    noop = statistics.median(timed(build, environ) for _ in range(args.repeat))
    print(f"(a) no-op build:                  {noop:7.3f} s   (aim < 0.3 s)")
    section_times, file_times = [], []
    target_file = ROOT / "tree" / "pkg042" / "note042.md"
    for n in range(1, args.repeat + 1):
        text = doc.read_text()
        doc.write_text(text.replace("value of item 10 is", f"value of item 10 (v{n}) is", 1).replace(f"(v{n - 1}) ", "", 1))
        section_times.append(timed(build, environ))
        target_file.write_text(target_file.read_text() + f"edit {n}\n")
        file_times.append(timed(build, environ))
    one_section, one_file = statistics.median(section_times), statistics.median(file_times)
    print(f"(b) one section edited:           {one_section:7.3f} s = {one_section / full:6.1%} of full   (aim < 5 %)")
    print(f"(b) one source file edited:       {one_file:7.3f} s = {one_file / full:6.1%} of full   (aim < 5 %)")
    if args.dvc:
        dvc_compare(doc, target_file, noop, args.repeat)


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
