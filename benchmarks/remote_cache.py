"""A clean store building ``examples/tutor.dlm`` from a warm shared cache, against training it
locally: what a teammate saves by ``dlm build --remote`` instead of building from scratch.

In one session, in scratch homes that share only the converted embedded base:
1. **local**: a clean store runs ``dlm build tutor.dlm`` (the baseline: it trains);
2. store A pushes what it built (``dlm push``) to a ``file://`` folder and to a real S3 server
   (moto's, on 127.0.0.1, when moto is installed);
3. **remote**: a second clean store, holding only a copy of the document and its dlm.lock, runs
   ``dlm build tutor.dlm --remote R``: every target is fetched and checked, nothing trains.
It prints wall times, the ratio against the local build, and checks that the remote builds ran
no target and produced the same lock.

    .venv/bin/python benchmarks/remote_cache.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

S3_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def dlm(env: dict, *args) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dlmbuild", *map(str, args)], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"dlm {' '.join(map(str, args))} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done


def fresh_home(work: Path, name: str, bases: Path | None) -> dict:
    home = work / name
    home.mkdir()
    if bases is not None and bases.exists():
        os.symlink(bases, home / "bases")
    return dict(os.environ, DLM_HOME=str(home), **S3_ENV)


def start_s3(work: Path):
    """moto's S3 server on a free port with one bucket, or None when moto is not installed."""
    import importlib.util

    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("boto3") is None:
        return None, None
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(work / "moto.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                            stderr=subprocess.STDOUT, env=dict(os.environ, **S3_ENV))
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).read()
            break
        except OSError:
            time.sleep(0.2)
    import boto3

    boto3.client("s3", endpoint_url=endpoint, **{k.lower(): v for k, v in S3_ENV.items() if k != "AWS_DEFAULT_REGION"},
                 region_name="us-east-1").create_bucket(Bucket="team")
    return proc, endpoint


def statuses(output: str) -> dict[str, str]:
    return {row["target"]: row["status"] for row in json.loads(output)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc", type=Path, default=ROOT / "examples" / "tutor.dlm")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work" / "remote_cache")
    args = parser.parse_args()
    bases = Path(os.environ.get("DLM_HOME") or Path.home() / ".dlm") / "bases"
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)

    project = args.work / "a"
    project.mkdir()
    shutil.copy(args.doc, project / args.doc.name)
    doc_a = project / args.doc.name
    env_a = fresh_home(args.work, "home-a", bases)
    local_s, built = dlm(env_a, "build", doc_a, "--json", "--no-remote")
    trained = [t for t, s in statuses(built.stdout).items() if s == "built"]

    remotes = {"file": (args.work / "remote-folder").as_uri()}
    s3, endpoint = start_s3(args.work)
    try:
        if endpoint:
            remotes["s3"] = "s3://team/dlm"
        rows = []
        for kind, url in remotes.items():
            extra = ["-o", f"endpoint_url={endpoint}"] if kind == "s3" else []
            dlm(env_a, "remote", "add", kind, url, *extra, "--force")
            push_s, _ = dlm(env_a, "push", doc_a, "--remote", kind)
            clone = args.work / f"clone-{kind}"
            clone.mkdir()
            shutil.copy(doc_a, clone / doc_a.name)
            shutil.copy(project / "dlm.lock", clone / "dlm.lock")
            env_b = fresh_home(args.work, f"home-{kind}", bases)
            dlm(env_b, "remote", "add", kind, url, *extra)
            remote_s, fetched = dlm(env_b, "build", clone / doc_a.name, "--json", "--remote", kind)
            ran = [t for t, s in statuses(fetched.stdout).items() if s != "cached"]
            same_lock = (clone / "dlm.lock").read_text() == (project / "dlm.lock").read_text()
            rows.append((kind, push_s, remote_s, ran, same_lock))
    finally:
        if s3 is not None:
            s3.terminate()
            s3.wait()

    print(f"document {args.doc.name}; local build trained/ran {len(trained)} targets ({', '.join(trained)})")
    print(f"{'build':<28}{'wall s':>10}{'vs local':>12}  notes")
    print(f"{'local (baseline)':<28}{local_s:>10.1f}{1.0:>11.1f}x  clean store, trains")
    for kind, push_s, remote_s, ran, same_lock in rows:
        note = f"push took {push_s:.1f}s; targets run: {ran or 'none'}; lock identical: {same_lock}"
        print(f"{'clean store, --remote ' + kind:<28}{remote_s:>10.1f}{local_s / remote_s:>11.1f}x  {note}")


if __name__ == "__main__":
    main()
