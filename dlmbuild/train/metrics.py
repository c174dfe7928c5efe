"""Training metrics in SQLite (``store/<dlm_id>/metrics.sqlite``): one row per run, one per step.

SQLite because it is in the standard library, survives a crash mid-run (each step commits, WAL
mode), and ``dlm metrics`` or any SQL tool can read it while a build runs.

A diverged step's loss is NaN, which SQLite cannot store (it turns NaN into NULL), so a step's
loss column admits NULL: NULL on disk, NaN again from ``steps()``. Recording a bad step must never
be what stops a run.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    adapter TEXT NOT NULL,
    key TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL DEFAULT 'running',
    plan TEXT NOT NULL,
    final_loss REAL,
    tokens_per_s REAL
);
CREATE TABLE IF NOT EXISTS steps (
    run INTEGER NOT NULL REFERENCES runs(id),
    step INTEGER NOT NULL,
    loss REAL,
    lr REAL NOT NULL,
    tokens INTEGER NOT NULL,
    tokens_per_s REAL NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (run, step)
);
"""


class MetricsDB:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def start_run(self, adapter: str, key: str, plan: dict) -> int:
        with self.db:
            cursor = self.db.execute("INSERT INTO runs (adapter, key, started, plan) VALUES (?, ?, ?, ?)",
                                     (adapter, key, time.time(), json.dumps(plan, sort_keys=True)))
        return int(cursor.lastrowid)

    def log_step(self, run: int, step: int, loss: float, lr: float, tokens: int, tokens_per_s: float, seconds: float) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (run, step, None if math.isnan(loss) else loss, lr, tokens, tokens_per_s, seconds))

    def finish_run(self, run: int, status: str, final_loss: float | None = None, tokens_per_s: float | None = None) -> None:
        with self.db:
            self.db.execute("UPDATE runs SET finished = ?, status = ?, final_loss = ?, tokens_per_s = ? WHERE id = ?",
                            (time.time(), status, final_loss, tokens_per_s, run))

    def runs(self) -> list[dict]:
        cursor = self.db.execute("SELECT id, adapter, key, started, finished, status, plan, final_loss, tokens_per_s, "
                                 "(SELECT COUNT(*) FROM steps WHERE run = runs.id) FROM runs ORDER BY id")
        names = ("id", "adapter", "key", "started", "finished", "status", "plan", "final_loss", "tokens_per_s", "steps")
        return [dict(zip(names, row, strict=True)) | {"plan": json.loads(row[6])} for row in cursor]

    def steps(self, run: int) -> list[dict]:
        cursor = self.db.execute("SELECT step, loss, lr, tokens, tokens_per_s, seconds FROM steps WHERE run = ? ORDER BY step", (run,))
        names = ("step", "loss", "lr", "tokens", "tokens_per_s", "seconds")
        return [dict(zip(names, row, strict=True)) | {"loss": math.nan if row[1] is None else row[1]} for row in cursor]
