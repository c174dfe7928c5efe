"""Expanding ``training.sources`` into the files that become prose sections.

Walks each source folder in sorted order (so the result is deterministic), honouring:
  - the directive's ``include`` / ``exclude`` globs (gitignore-style wildmatch, via pathspec);
  - ``.dlm/ignore`` files in any subfolder, with gitignore semantics (the deepest matching
    pattern wins, ``!`` re-includes, an ignored folder is not entered);
  - ``.dlm/training.yaml`` files in any subfolder: ``include`` (the nearest one wins) and
    ``exclude`` (they add up) for that subtree;
  - ``max_bytes_per_file`` and ``max_files``;
  - ``sources_policy: strict``: a directive may not name an absolute path or leave the
    document's folder, and symlinks that point outside are skipped.
VCS folders, ``.dlm`` folders and the document itself are never ingested. Folder symlinks are
not followed (as git does not). Binary and non-UTF-8 files are detected when read, and counted,
not ingested.

pathspec is used rather than fnmatch because gitignore semantics (anchoring, ``**``, negation,
folder-only patterns) are subtle and pathspec is the well-kept implementation of them.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from operator import itemgetter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pathspec
import yaml

from dlmbuild.document import walk_memo
from dlmbuild.document.parse import Document, inside_folder
from dlmbuild.document.schema import SourceSpec
from dlmbuild.document.sections import Section, SectionType, section_id
from dlmbuild.errors import DocumentError, Location
from dlmbuild.util.filesig import Signature, racy, signature_of
from dlmbuild.util.memo import memo_dict
from dlmbuild.util.suggest import did_you_mean
from dlmbuild.util.text import one_line

SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", ".dlm"})
TRAINING_YAML_KEYS = ("include", "exclude")


class SourceFile(NamedTuple):
    """One file selected for ingestion; its stat signature is what the file-state cache and the
    no-op stamp key on (``util/filesig.py``), taken once by the walk. A named
    tuple rather than a frozen dataclass: a walk builds 10,000 of them, and a tuple is made in
    C where a frozen dataclass sets each field through ``object.__setattr__``."""

    relpath: str  # relative to the document's folder, '/'-separated
    abspath: str  # a str, not a Path: building 10,000 Path objects is a third of a no-op build
    size: int
    mtime_ns: int
    inode: int
    device: int
    adapter: str | None  # routing from the directive, None = every adapter
    ctime_ns: int = 0
    mode: int = 0
    nlink: int = 1  # more than one name: it can change through a name outside the tree
    linked: bool = False  # reached through a symlink, whose target can change anywhere

    @property
    def path(self) -> Path:
        return Path(self.abspath)

    @property
    def signature(self) -> Signature:
        """Its stat signature (``util/filesig.py``), from the stat the walk already made."""
        return SIGNATURE(self)


# The signature (mtime_ns, ctime_ns, size, inode, device) and the path as functions made in C,
# for taking them from 10,000 files at a time (``map(SIGNATURE, files)``).
SIGNATURE = itemgetter(3, 7, 2, 4, 5)
PATH = itemgetter(1)


def source_adapters(file: SourceFile, adapters: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The adapters a selected file trains: the one its directive names (``adapter:``), else
    every declared adapter. The one statement of the routing rule, shared by the source section,
    the tokenize index, the replay identities and what a published adapter remembers."""
    return (file.adapter,) if file.adapter else tuple(adapters)


@dataclass
class SourceSet:
    files: list[SourceFile] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    watch_paths: list[Path] = field(default_factory=list)  # source roots, for --watch
    # Every folder walked and the rule files that could apply there (present or not): a file
    # added, removed or renamed changes a folder's mtime, so with the selected files' own stats
    # these are what a no-op check must stat (engine/stamp.py).
    folders: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)  # the folders walked, and their .dlm folders

    def extend(self, part: SourceSet) -> None:
        self.files += part.files
        self.skipped.update(part.skipped)
        self.folders += part.folders
        self.dirs += part.dirs


@dataclass
class _Rules:
    """Ignore and training.yaml rules in force in one folder, inherited by its children."""

    ignores: tuple[tuple[str, pathspec.GitIgnoreSpec], ...] = ()  # (base relpath, spec)
    include: tuple[str, pathspec.PathSpec] | None = None  # (base relpath, spec)
    excludes: tuple[tuple[str, pathspec.PathSpec], ...] = ()
    key: tuple = ()  # the pattern text behind the specs: equal keys decide every path alike


def expand_sources(doc: Document) -> SourceSet:
    """Select every file the document's ``training.sources`` directives ingest."""
    result = SourceSet()
    root = Path(os.path.abspath(doc.directory))  # cwd-independent: paths key caches and watches
    strict = doc.config.training.sources_policy == "strict"
    own = _file_key(doc.path)
    for index, spec in enumerate(doc.config.training.sources):
        where = _spec_location(doc, index)
        target = _resolve_directive(root, spec, strict, where)
        result.watch_paths.append(target)
        if target.is_file():
            _consider(root, target, spec, strict, result, [spec.max_files], own)
            continue
        memo = walk_memo.active()
        if memo is None:
            result.extend(_walk_directive(root, target, spec, strict, own))
            continue
        key = (str(root), str(target), spec.model_dump_json(), strict, own)
        result.extend(memo.walk(key, lambda: _walk_directive(root, target, spec, strict, own),
                                lambda file: _restat(root, file, spec, strict, own)))
    return result


def _walk_directive(root: Path, target: Path, spec: SourceSpec, strict: bool, own: tuple[int, int] | None) -> SourceSet:
    """The files one folder directive selects."""
    part = SourceSet()
    rules = _Rules(
        include=("", _wildmatch(spec.include)),
        excludes=(("", _wildmatch(spec.exclude)),) if spec.exclude else (),
        key=(("include", "", tuple(spec.include)), ("exclude", "", tuple(spec.exclude or ()))),
    )
    _walk(root, target, "", rules, spec, strict, part, [spec.max_files], own)
    return part


def _restat(root: Path, file: SourceFile, spec: SourceSpec, strict: bool, own: tuple[int, int] | None) -> SourceFile | None:
    """``file`` as a walk would select it now, or None when a walk would not select it as it is."""
    scratch = SourceSet()
    _consider(root, file.abspath, spec, strict, scratch, [1], own, linked=file.linked, relpath=file.relpath)
    return scratch.files[0] if scratch.files else None


def read_source_section(file: SourceFile, adapters: tuple[str, ...]) -> Section | None:
    """Read one selected file as a prose section, or None if it is binary or not UTF-8."""
    data = file.path.read_bytes()
    text = decode_text_file(data)
    if text is None:
        return None
    return source_section(file, text, adapters)


def source_section(file: SourceFile, text: str, adapters: tuple[str, ...]) -> Section:
    """A selected file's text as an unfenced prose section (its id hashes the text alone, so a
    renamed file keeps its tokenized rows), routed by ``source_adapters``."""
    return Section(
        id=section_id(SectionType.PROSE, text),
        type=SectionType.PROSE,
        text=text.replace("\r\n", "\n").strip("\n"),
        line=0,
        adapter=file.adapter,
        adapters=source_adapters(file, adapters),
        fenced=False,
        source_path=file.relpath,
    )


def decode_text_file(data: bytes) -> str | None:
    """UTF-8 text, or None for binary (a NUL in the first 8 KiB) or undecodable content."""
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        return None


def binary_reason(relpath: str) -> str:
    """Why a selected binary file trains nothing, as ``dlm show`` counts it: an image needs a
    vision-language base (where it becomes an image section), a clip needs a transcript
    (written in an ``::audio::`` section), anything else is just binary."""
    from dlmbuild.document.media_files import media_kind

    kind = media_kind(relpath)
    if kind == "image":
        return "images_need_a_vision_language_base"
    if kind == "audio":
        return "audio_clips_need_an_audio_section_with_a_transcript"
    return "binary_or_not_utf8"


def load_source_sections(doc: Document, sources: SourceSet) -> tuple[list[Section], Counter]:
    """Read every selected file; binary and non-UTF-8 files are counted in the returned Counter."""
    skipped = Counter(sources.skipped)
    names = tuple(doc.config.training.adapter_names)
    sections = []
    for file in sources.files:
        try:
            section = read_source_section(file, names)
        except OSError:  # removed or made unreadable since it was selected
            skipped["unreadable"] += 1
            continue
        if section is None:
            skipped[binary_reason(file.relpath)] += 1
        else:
            sections.append(section)
    return sections, skipped


def _spec_location(doc: Document, index: int) -> Location:
    key, node = doc.frontmatter.find(("training", "sources", index, "path"))
    if node is None or not hasattr(node, "start_mark"):
        return Location(doc.path, doc.frontmatter.first_line, 1)
    if not isinstance(node, yaml.ScalarNode):
        _, node = doc.frontmatter.find(("training", "sources", index))
    return doc.frontmatter.location(doc.path, node.start_mark)


def source_roots(doc: Document) -> list[Path]:
    """Where each ``training.sources`` directive points, resolved as expansion resolves it but
    neither checked nor walked: what ``--watch`` watches (a root that appears later counts too)."""
    root = Path(os.path.abspath(doc.directory))
    return [_directive_path(root, spec) for spec in doc.config.training.sources]


def _directive_path(root: Path, spec: SourceSpec) -> Path:
    raw = os.path.expanduser(spec.path)
    return Path(raw) if os.path.isabs(raw) else root / raw


def _resolve_directive(root: Path, spec: SourceSpec, strict: bool, where: Location) -> Path:
    shown = one_line(spec.path)
    if strict and os.path.isabs(os.path.expanduser(spec.path)):
        raise DocumentError(f"source path '{shown}' is absolute (sources_policy: strict allows only paths inside the document's folder)", where)
    target = _directive_path(root, spec)
    if strict and not inside_folder(root, target):
        raise DocumentError(f"source path '{shown}' leaves the document's folder (sources_policy: strict)", where)
    if not target.exists():
        siblings = [p.name for p in target.parent.iterdir()] if target.parent.is_dir() else []
        raise DocumentError(f"source path '{shown}' not found{did_you_mean(target.name, siblings)}", where)
    return target


def _file_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_dev


def _wildmatch(patterns: list[str]) -> pathspec.PathSpec:
    return pathspec.PathSpec.from_lines("gitignore", patterns)


def _walk(root: Path, folder: Path, rel: str, rules: _Rules, spec: SourceSpec, strict: bool, out: SourceSet, budget: list[int], own: tuple[int, int] | None) -> None:
    meta = os.path.join(folder, ".dlm")
    out.folders += [str(folder), meta]  # creating .dlm changes the folder; files in it change .dlm
    out.dirs.append(str(folder))
    if os.path.isdir(meta):
        out.folders += [os.path.join(meta, "ignore"), os.path.join(meta, "training.yaml")]
        out.dirs.append(meta)
    rules = _local_rules(folder, rel, rules)
    listing = _listing(folder, rel, rules)
    if listing is None:
        out.skipped["unreadable"] += 1
        return
    prefix = os.path.join(folder, "")
    doc_prefix = _relpath(root, prefix)  # this folder relative to the document's, ending in '/'
    for name, decision in listing:
        path = prefix + name
        if decision == _FILE:
            _consider(root, path, spec, strict, out, budget, own, linked=False, relpath=doc_prefix + name)
        elif decision == _DESCEND:
            _walk(root, Path(path), f"{rel}{name}/", rules, spec, strict, out, budget, own)
        elif decision == _LINK:  # where a link points can change without its folder changing
            if os.path.isdir(path):
                out.skipped["symlinked_folder"] += 1
            elif _ignored(rules, rel + name) or not _included(rules, rel + name):
                out.skipped["ignored"] += 1
            else:
                _consider(root, path, spec, strict, out, budget, own, linked=True)
        elif decision == _IGNORED:
            out.skipped["ignored"] += 1


# What a walk decides about a folder's entries from their names and types alone.
_DESCEND, _FILE, _LINK, _IGNORED, _SKIPPED = range(5)
# (folder, rules key) -> (folder's stat signature, [(name, decision)]). Like git's untracked
# cache: a folder whose signature is unchanged has the same entries (adding, removing or
# renaming one changes its mtime), so a resident process (dlm server, --watch) re-decides
# nothing there and only stats the selected files. Listings are remembered only once the
# signature is out of the racy window, for the same reason as the file-state cache.
_LISTINGS: dict[tuple[str, tuple], tuple[Signature, list[tuple[str, int]]]] = memo_dict("document.listings")


def _listing(folder: Path, rel: str, rules: _Rules) -> list[tuple[str, int]] | None:
    try:
        sig = signature_of(os.stat(folder))
        cache_key = (str(folder), rules.key)
        held = _LISTINGS.get(cache_key)
        if held is not None and held[0] == sig:
            return held[1]
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return None
    listing = []
    for entry in entries:
        child_rel = f"{rel}{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            if entry.name in SKIPPED_DIRS:
                decision = _SKIPPED
            else:
                decision = _IGNORED if _ignored(rules, child_rel + "/") else _DESCEND
        elif entry.is_symlink():
            decision = _LINK
        else:
            decision = _IGNORED if _ignored(rules, child_rel) or not _included(rules, child_rel) else _FILE
        listing.append((entry.name, decision))
    if not racy(sig):
        _LISTINGS[cache_key] = (sig, listing)
    return listing


def _consider(
    root: Path, path: Path | str, spec: SourceSpec, strict: bool, out: SourceSet, budget: list[int],
    own: tuple[int, int] | None = None, linked: bool | None = None, relpath: str | None = None,
) -> None:
    if linked is None:
        linked = os.path.islink(path)
    if linked and strict and not inside_folder(root, path):
        out.skipped["escapes_folder"] += 1
        return
    try:
        st = os.stat(path)
    except OSError:
        out.skipped["unreadable"] += 1
        return
    # A FIFO, socket or device is not text on disk: reading a FIFO would block forever.
    if not stat.S_ISREG(st.st_mode):
        out.skipped["special_file"] += 1
        return
    # A source covering the document's own folder (``sources: [.]``) must not ingest the
    # document itself: its frontmatter and sections would be trained a second time as prose.
    if own is not None and (st.st_ino, st.st_dev) == own:
        out.skipped["document_itself"] += 1
        return
    if st.st_size > spec.max_bytes_per_file:
        out.skipped["too_large"] += 1
        out.folders.append(str(path))  # shrinking it in place would select it: the stamp must see it
        return
    if budget[0] <= 0:
        out.skipped["over_max_files"] += 1
        return
    budget[0] -= 1
    out.files.append(SourceFile(relpath or _relpath(root, path), str(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev,
                                spec.adapter, st.st_ctime_ns, st.st_mode, st.st_nlink, linked))


def _relpath(root: Path, path: Path | str) -> str:
    """``path`` relative to the document folder, '/'-separated. os.path.relpath costs ~20 us a
    call, most of a no-op build over 10,000 files, so each folder's prefix is computed once."""
    folder, name = os.path.split(str(path))
    prefix = _FOLDER_PREFIX.get((str(root), folder))
    if prefix is None:
        rel = os.path.relpath(folder, root).replace(os.sep, "/")
        prefix = "" if rel == "." else rel + "/"
        _FOLDER_PREFIX[(str(root), folder)] = prefix
    return prefix + name


# (document folder, folder) -> the folder's path relative to the document's, ending in '/'. Pure
# string arithmetic, so it needs no validity check; the registry only bounds its life.
_FOLDER_PREFIX: dict[tuple[str, str], str] = memo_dict("document.folder_prefix")


def _local_rules(folder: Path, rel: str, rules: _Rules) -> _Rules:
    meta = folder / ".dlm"
    if not meta.is_dir():
        return rules
    ignores, include, excludes, key = rules.ignores, rules.include, rules.excludes, rules.key
    ignore_file = meta / "ignore"
    if ignore_file.is_file():
        lines = ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()
        ignores = ignores + ((rel, pathspec.GitIgnoreSpec.from_lines(lines)),)
        key += (("ignore", rel, tuple(lines)),)
    training_file = meta / "training.yaml"
    if training_file.is_file():
        data = _load_training_yaml(training_file)
        if "include" in data:
            include = (rel, _wildmatch(data["include"]))
            key += (("include", rel, tuple(data["include"])),)
        if data.get("exclude"):
            excludes = excludes + ((rel, _wildmatch(data["exclude"])),)
            key += (("exclude", rel, tuple(data["exclude"])),)
    return _Rules(ignores, include, excludes, key)


def _load_training_yaml(path: Path) -> dict[str, list[str]]:
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        loc = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path, 1, 1)
        raise DocumentError(one_line(f"invalid YAML: {getattr(exc, 'problem', None) or exc}"), loc) from None
    if node is None:  # an empty file sets no rules
        return {}
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise DocumentError("expected a mapping with 'include' and/or 'exclude'", Location(path, 1, 1))
    for key_node, value_node in node.value:
        key = key_node.value
        where = Location(path, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        if key not in TRAINING_YAML_KEYS:
            raise DocumentError(one_line(f"unknown key '{key}'{did_you_mean(key, TRAINING_YAML_KEYS)}; expected include or exclude"), where)
        value = data[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DocumentError(f"'{key}' must be a list of glob patterns", where)
    return data


def _relative_to(base: str, rel: str) -> str:
    return rel[len(base) :] if base and rel.startswith(base) else rel


def _ignored(rules: _Rules, rel: str) -> bool:
    for base, spec in reversed(rules.ignores):
        result = spec.check_file(_relative_to(base, rel))
        if result.include is not None:
            return bool(result.include)
    if rel.endswith("/"):
        return False
    return any(spec.match_file(_relative_to(base, rel)) for base, spec in rules.excludes)


def _included(rules: _Rules, rel: str) -> bool:
    if rules.include is None:
        return True
    base, spec = rules.include
    return spec.match_file(_relative_to(base, rel))
