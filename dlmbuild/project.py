"""A Project: one document opened for building, with its store and lazily resolved base.

Rules read everything through this object, so that what is expensive (expanding sources,
hashing files, resolving or materializing the base) happens once, only when a target needs it,
and never imports torch on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from dlmbuild.document.parse import Document, parse_document
from dlmbuild.document.sources import PATH, SIGNATURE, SourceSet, expand_sources, source_roots
from dlmbuild.engine.filestate import FileStateCache
from dlmbuild.engine.target import InputsUnavailable
from dlmbuild.store.layout import StoreLayout, dlm_home


class BaseNotReady(InputsUnavailable):
    """The base is known but not materialized yet; only a real build may materialize it."""

    def __str__(self) -> str:
        return f"base {self.args[0]} not materialized yet (the next build resolves it)"


@dataclass
class Project:
    doc: Document
    layout: StoreLayout
    filestate: FileStateCache
    materialize_base: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # build flags rules read: replay, quiet
    _base: Any = field(default=None, repr=False)

    @classmethod
    def open(cls, path: str | Path, home: Path | None = None, *, materialize_base: bool = False,
             options: dict[str, Any] | None = None) -> Project:
        doc = parse_document(path)
        layout = StoreLayout(home or dlm_home(), doc.config.dlm_id)
        return cls(doc, layout, FileStateCache.open(layout.filestate), materialize_base, dict(options or {}))

    @cached_property
    def sources(self) -> SourceSet:
        return expand_sources(self.doc)

    @cached_property
    def source_hashes(self) -> dict[str, str]:
        """relpath -> content hash for every selected source file, via the file-state cache."""
        files = self.sources.files
        digests = self.filestate.hash_all(list(map(PATH, files)), list(map(SIGNATURE, files)))
        return {file.relpath: digest for file, digest in zip(files, digests)}

    @cached_property
    def media_hashes(self) -> dict[str, str]:
        """section id -> content hash of the image or clip it names: the bytes, not the path,
        enter the keys, so replacing an image retrains and touching its mtime does not."""
        return {s.id: self.filestate.hash(self.media_path(s)) for s in self.doc.sections if "path" in s.attributes}

    def media_path(self, section) -> Path:
        return Path(self.doc.directory) / section.attributes["path"]

    @property
    def resolved_base(self):
        """The base if some target already resolved it in this run, else None (never resolves)."""
        return self._base

    def base(self):
        """The resolved base (``dlmbuild.bases.resolve.ResolvedBase``)."""
        if self._base is None:
            from dlmbuild.bases.resolve import resolve_base
            from dlmbuild.errors import EnvironmentProblem

            try:
                self._base = resolve_base(
                    self.doc.config.base_model,
                    self.doc.directory,
                    home=self.layout.home,
                    file_hash=self.filestate.hash,
                    materialize=self.materialize_base,
                )
            except EnvironmentProblem:
                if self.materialize_base:
                    raise
                raise BaseNotReady(self.doc.config.base_model) from None
        return self._base

    def watch_paths(self) -> list[Path]:
        """What a build reads that an edit can change, for ``--watch``: the document, its source
        roots and the media files its sections name (found without walking the sources)."""
        folder = Path(self.doc.directory)
        media = [folder / s.attributes["path"] for s in self.doc.sections if "path" in s.attributes]
        return [Path(self.doc.path), *source_roots(self.doc), *media]
