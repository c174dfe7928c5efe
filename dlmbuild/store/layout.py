"""Where things live under ``$DLM_HOME`` (default ``~/.dlm``).

    bases/                    store-wide base cache (dequantized embedded base, manifests)
    store/<dlm_id>/
        actions/<kk>/<key>/   action cache entries: out/ + manifest.json
        state/files.pkl       file-state cache (stat -> content hash); files.log: its journal
        state/targets.pkl     last build's key components per target (for --explain)
        tokens/               diskcache of tokenized sections
        adapters/<name>/      published adapter versions: versions/vNNNN/ + current (pointer)
        replay/<name>.jsonl   append-only corpus of every section version an adapter trained on
        metrics.sqlite        per-step loss, learning rate and throughput of every training run
        build.lock            one build at a time
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dlmbuild.store.home import dlm_home

__all__ = ["StoreLayout", "dlm_home"]


@dataclass(frozen=True)
class StoreLayout:
    home: Path
    dlm_id: str

    @property
    def root(self) -> Path:
        return self.home / "store" / self.dlm_id

    @property
    def actions(self) -> Path:
        return self.root / "actions"

    @property
    def filestate(self) -> Path:
        return self.root / "state" / "files.pkl"

    @property
    def targets_state(self) -> Path:
        return self.root / "state" / "targets.pkl"

    @property
    def tokens(self) -> Path:
        return self.root / "tokens"

    @property
    def bases(self) -> Path:
        return self.home / "bases"

    @property
    def adapters(self) -> Path:
        return self.root / "adapters"

    @property
    def replay(self) -> Path:
        return self.root / "replay"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.sqlite"
