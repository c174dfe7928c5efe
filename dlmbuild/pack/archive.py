"""The ``.dlm.pack`` container: a zstd-compressed POSIX tar whose first member is a manifest.

Other modules decide what goes into a pack and hand over ``{archive name: local file}``; this
module writes that deterministically and reads it back without trusting a byte of it.

Why tar: it is the standard container for a tree of files, and it can be read as a stream, one
header after the other, so a pack is checked and unpacked in one pass with nothing seeked and
nothing held in memory but the current chunk. Every tool on every system can list a pack
(``zstd -dc x.dlm.pack | tar -t``) when something goes wrong.

Why zstd: it is fast in both directions and compresses text and model weights far better than
gzip at a similar speed; single-threaded, a given level always turns the same input into the
same bytes (with one library version), so a pack is reproducible; its decompressor streams with
bounded memory, so this module can count every decompressed byte and stop a decompression bomb
early; frames carry a checksum of their content. ``zstandard`` (the binding of the reference C
library) is well kept and used by many packaging tools.

Why the checks: a pack comes from someone else. A tar can name ``../../.bashrc`` or ``/etc/x``,
hold symlinks, hard links and device files, repeat a name so the second copy overwrites the
first, or claim one size in a header and decompress to gigabytes. So the reader refuses anything
that is not a regular file at a safe relative path listed in the manifest with that size and
sha256, checks every header before writing a byte for it, bounds the decompressed size by what
the manifest declares (and ``HARD_CAP_BYTES`` whatever it declares), never calls
``extractall``, and extracts into a temporary folder that becomes the destination only when
everything has checked out. Every refusal is one line naming the member and what is wrong.

Layout: ``manifest.json`` first (its shape and bytes: ``manifest``), then the members in sorted
name order (their names' rules: ``names``); headers normalized (mtime 0, uid/gid 0, no user or
group names, mode 0o644 or 0o755 for executables); no directory entries. Whether the file is
whole zstd frames, which zstandard's reader does not say, is ``zstd_frames``'s to tell.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import zstandard

from dlmbuild.errors import EXIT_VERIFY_MISMATCH, DlmError, EnvironmentProblem, Location, UsageError
from dlmbuild.pack.manifest import FORMAT, MANIFEST, encode_manifest, manifest_shape_problem, no_duplicate_keys
from dlmbuild.pack.names import collapse_whitespace, folder_file_clash, member_name_problem, quoted_name
from dlmbuild.pack.zstd_frames import zstd_frames_problem
from dlmbuild.store.atomic import current_umask, fsync_dir

# re-exported: callers and tests import the format, its checks and the name rules from here
__all__ = ["FORMAT", "MANIFEST", "manifest_shape_problem", "member_name_problem", "zstd_frames_problem"]

HARD_CAP_BYTES = 64 * 1024**3  # no pack unpacks to more than this, whatever its manifest says

ZSTD_LEVEL = 10  # fixed: a different level gives different bytes; 10 is ~3x faster than 19 for ~3% more size
MANIFEST_MAX_BYTES = 16 * 1024**2  # read into memory and parsed, so bounded before either

_CHUNK = 1024**2
# Tar bytes around the members' content: a header (512) per member, a pax header when the
# name is long or not ASCII (up to ~9 KiB for a 4096-byte name), padding to 512, the end
# marker and the record padding. Generous on purpose: it only bounds a bomb.
_TAR_SLACK_PER_MEMBER = 16 * 1024
_TAR_SLACK_FIXED = 1024**2
_EXTENDED_HEADER_MAX_BYTES = 64 * 1024  # pax / GNU long-name headers tarfile reads into memory

_REGULAR_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE)
_TYPE_NAMES = {
    tarfile.SYMTYPE: "a symlink",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.DIRTYPE: "a directory",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


class PackError(DlmError):
    """A pack that cannot be trusted or read: one line naming the member and what is wrong."""

    exit_code = EXIT_VERIFY_MISMATCH


# --- writing ----------------------------------------------------------------------------------


def write_pack(out: Path, members: dict[str, Path], meta: dict) -> dict:
    """Write ``members`` (archive name -> local regular file) to ``out``, atomically.

    Returns the manifest written. Bad names, reserved meta keys and local paths that are not
    regular files are ValueError: callers choose names and files, so these are their bugs. A
    local file that changes while it is packed is a PackError and nothing is written."""
    out = Path(out)
    _check_meta(meta)
    local = _local_members(members)
    entries = {name: _digest_local(path) for name, path in local}
    total = sum(size for _sha, size, _exe in entries.values())
    if total > HARD_CAP_BYTES:
        raise PackError(f"members total {total} bytes, more than the {HARD_CAP_BYTES} bytes a pack may hold", Location(out))
    manifest = {
        **meta,
        "format": FORMAT,
        "members": {name: {"sha256": sha, "size": size} for name, (sha, size, _exe) in entries.items()},
        "total_size": total,
    }
    manifest_bytes = encode_manifest(manifest)
    if len(manifest_bytes) > MANIFEST_MAX_BYTES:
        raise PackError(f"manifest would be {len(manifest_bytes)} bytes, more than the {MANIFEST_MAX_BYTES} a reader accepts", Location(out))

    def write(handle: BinaryIO) -> None:
        _write_archive(handle, manifest_bytes, [(name, path, *entries[name]) for name, path in local])

    _write_atomically(out, write)
    return json.loads(manifest_bytes)


def _check_meta(meta: dict) -> None:
    """``meta`` joins the manifest's top level, so it cannot replace the keys the format owns."""
    if not isinstance(meta, dict) or not all(isinstance(key, str) for key in meta):
        raise ValueError("pack meta must be a dict with string keys")
    reserved = sorted({"format", "members", "total_size"}.intersection(meta))
    if reserved:
        raise ValueError(f"pack meta may not set {', '.join(reserved)}: the manifest's own keys")


def _local_members(members: dict[str, Path]) -> list[tuple[str, Path]]:
    """The members in archive order, every name and local path checked."""
    for name in members:
        problem = member_name_problem(name)
        if problem:
            raise ValueError(f"pack member name {quoted_name(str(name))} {problem}")
        if name == MANIFEST:
            raise ValueError(f"pack member name {MANIFEST!r} is reserved for the manifest")
    clash = folder_file_clash(list(members))
    if clash:
        raise ValueError(f"pack member name {quoted_name(clash)} is both a file and a folder of other members")
    local = sorted((name, Path(path)) for name, path in members.items())
    for name, path in local:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            raise ValueError(f"pack member {quoted_name(name)}: {path} does not exist") from None
        except OSError as exc:
            raise EnvironmentProblem(f"cannot read: {exc.strerror}", Location(path)) from None
        if not stat.S_ISREG(mode):
            raise ValueError(f"pack member {quoted_name(name)}: {path} is not a regular file (a pack holds regular files only)")
    return local


@contextlib.contextmanager
def _open_local(path: Path) -> Iterator[tuple[BinaryIO, os.stat_result]]:
    """Open a member's local file without following a symlink swapped in since it was checked
    (O_NOFOLLOW) and without blocking on a FIFO (O_NONBLOCK), and make sure it is regular."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot read: {exc.strerror}", Location(path)) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path} is not a regular file (a pack holds regular files only)")
        yield handle, info


def _digest_local(path: Path) -> tuple[str, int, bool]:
    """(sha256, size, executable) of a local file: the manifest is written before the members,
    so every member is read once here and once more, re-hashed, when it is written."""
    digest = hashlib.sha256()
    size = 0
    with _open_local(path) as (handle, info):
        try:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        except OSError as exc:
            raise EnvironmentProblem(f"cannot read: {exc.strerror}", Location(path)) from None
        return digest.hexdigest(), size, bool(info.st_mode & 0o111)


def _normalized_tarinfo(name: str, size: int, executable: bool) -> tarfile.TarInfo:
    """A header that says only name, size and the executable bit: no time, owner or umask
    leaks into the pack, so packing the same files anywhere gives the same bytes."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.REGTYPE
    info.size = size
    info.mode = 0o755 if executable else 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class _HashingReader:
    """A member's local file as tarfile reads it, re-hashed on the way: a file edited between
    the manifest and the copy would make a pack that fails its own verification."""

    def __init__(self, handle: BinaryIO, size: int, path: Path):
        self._handle = handle
        self._remaining = size
        self._path = path
        self._digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        want = self._remaining if size is None or size < 0 else min(size, self._remaining)
        try:
            data = self._handle.read(want)
        except OSError as exc:
            raise EnvironmentProblem(f"cannot read: {exc.strerror}", Location(self._path)) from None
        if len(data) < want:
            raise PackError("changed while it was being packed (it got shorter); pack again", Location(self._path))
        self._digest.update(data)
        self._remaining -= len(data)
        return data

    def check(self, sha256: str) -> None:
        if self._digest.hexdigest() != sha256:
            raise PackError("changed while it was being packed; pack again", Location(self._path))


def _write_archive(handle: BinaryIO, manifest_bytes: bytes, members: list[tuple[str, Path, str, int, bool]]) -> None:
    """The tar stream, zstd-compressed into ``handle``: manifest first, then the members."""
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True, threads=0)
    with compressor.stream_writer(handle, closefd=False) as compressed:
        with tarfile.open(fileobj=compressed, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar:
            tar.addfile(_normalized_tarinfo(MANIFEST, len(manifest_bytes), False), io.BytesIO(manifest_bytes))
            for name, path, sha256, size, executable in members:
                with _open_local(path) as (local, _info):
                    reader = _HashingReader(local, size, path)
                    tar.addfile(_normalized_tarinfo(name, size, executable), reader)
                    reader.check(sha256)


def _write_atomically(out: Path, write: Callable[[BinaryIO], None]) -> None:
    """Stream into a temporary sibling, fsync it, rename it over ``out``: ``out`` is the old
    pack or the new one, never half of one. (``store.atomic`` writes from memory; a pack can be
    gigabytes, so this streams.)"""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write: {exc.strerror}", Location(out)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, out)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise EnvironmentProblem(f"cannot write: {exc.strerror or exc}", Location(out)) from None
        raise
    fsync_dir(out.parent)


# --- reading ----------------------------------------------------------------------------------


def read_manifest(pack: Path) -> dict:
    """The manifest (the first member), checked for shape; PackError if it cannot be read.

    Only the manifest is read: this says what a pack claims to hold, not that it holds it
    (``verify_pack`` says that)."""
    with _PackReader(Path(pack)) as reader:
        return reader.read_manifest()


def verify_pack(pack: Path) -> dict:
    """Check the whole pack, writing nothing; the manifest, or PackError on the first problem."""
    return _scan(Path(pack), None)


def extract_pack(pack: Path, dest: Path) -> dict:
    """Extract into ``dest`` (an empty folder, or none: it is created); the manifest.

    Everything is checked as for ``verify_pack``, and the members are written into a temporary
    folder beside ``dest`` that is renamed into place only when all of them checked out; on
    any problem it is removed, so ``dest`` never holds part of a pack. ``manifest.json`` itself
    is returned, not written. A ``dest`` that exists and is not an empty folder is a UsageError."""
    pack, dest = Path(pack), Path(dest)
    _check_destination(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write: {exc.strerror}", Location(dest)) from None
    try:
        manifest = _scan(pack, _FolderWriter(tmp, dest, pack))
        _settle_folder(tmp)
        _move_into_place(tmp, dest)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise EnvironmentProblem(f"cannot write: {exc.strerror or exc}", Location(dest)) from None
        raise
    fsync_dir(dest.parent)
    return manifest


def _check_destination(dest: Path) -> None:
    """``dest`` is absent or an empty real folder: a pack never mixes with files already there."""
    try:
        if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
            raise UsageError("exists and is not a folder; extract a pack into an empty or new folder", Location(dest))
        if dest.is_dir() and any(dest.iterdir()):
            raise UsageError("is not empty; extract a pack into an empty or new folder", Location(dest))
    except OSError as exc:
        raise EnvironmentProblem(f"cannot read: {exc.strerror}", Location(dest)) from None


def _settle_folder(tmp: Path) -> None:
    """Give the folder the permissions a new folder gets (mkdtemp makes it 0o700) and make its
    entries durable before it becomes visible."""
    os.chmod(tmp, 0o777 & ~current_umask())
    for root, _dirs, _files in os.walk(tmp):
        fsync_dir(Path(root))


def _move_into_place(tmp: Path, dest: Path) -> None:
    """Rename the finished folder to ``dest``. rename(2) replaces an empty folder and refuses a
    non-empty one, so a folder filled by someone else meanwhile is never overwritten."""
    try:
        os.replace(tmp, dest)
    except OSError as exc:
        if dest.exists():
            raise UsageError(f"cannot extract here ({exc.strerror}); extract a pack into an empty or new folder", Location(dest)) from None
        raise


class _FolderWriter:
    """Where ``extract_pack`` writes members: files created exclusively (``xb``) inside the temp
    folder, which is private (0o700) until it is complete, so no one can plant a symlink in it;
    names were checked, and the resolved path is checked again in case that ever changes."""

    def __init__(self, root: Path, dest: Path, pack: Path):
        self._root = root
        self._real_root = os.path.realpath(root)
        self._dest = dest
        self._pack = pack
        self._mask = current_umask()

    def open(self, name: str, executable: bool) -> BinaryIO:
        """A new file for member ``name`` (already checked to be a safe name)."""
        target = self._root.joinpath(*name.split("/"))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if os.path.commonpath([self._real_root, os.path.realpath(target.parent)]) != self._real_root:
                raise PackError(f"member {quoted_name(name)} would be written outside the destination", Location(self._pack))
            handle = open(target, "xb")  # noqa: SIM115 - closed by finish() or by the caller's cleanup
        except (FileExistsError, NotADirectoryError):
            raise PackError(
                f"member {quoted_name(name)} collides with another member on this filesystem (names differing only in case?)",
                Location(self._pack),
            ) from None
        except OSError as exc:
            raise EnvironmentProblem(f"cannot write: {exc.strerror}", Location(self._dest)) from None
        os.fchmod(handle.fileno(), (0o755 if executable else 0o644) & ~self._mask)
        return handle

    def write(self, handle: BinaryIO, data: bytes) -> None:
        try:
            handle.write(data)
        except OSError as exc:
            raise EnvironmentProblem(f"cannot write: {exc.strerror}", Location(self._dest)) from None

    def finish(self, handle: BinaryIO) -> None:
        try:
            handle.flush()
            os.fsync(handle.fileno())
        except OSError as exc:
            raise EnvironmentProblem(f"cannot write: {exc.strerror}", Location(self._dest)) from None


def _scan(pack: Path, writer: _FolderWriter | None) -> dict:
    """Read the whole pack, checking every rule; members go to ``writer`` when there is one."""
    with _PackReader(pack) as reader:
        manifest = reader.read_manifest()
        expected = manifest["members"]
        reader.limit_to(manifest)
        seen: set[str] = set()
        while (info := reader.next_member()) is not None:
            name = info.name
            if name in seen:
                raise reader.error(f"member {quoted_name(name)} appears twice")
            if name not in expected:
                raise reader.error(f"member {quoted_name(name)} is not in the manifest")
            if info.size != expected[name]["size"]:
                raise reader.error(f"member {quoted_name(name)} is {info.size} bytes but the manifest says {expected[name]['size']}")
            seen.add(name)
            reader.copy_member(info, expected[name]["sha256"], writer)
        reader.finish()
        missing = sorted(set(expected) - seen)
        if missing:
            raise reader.error(f"member {quoted_name(missing[0])} is in the manifest but not in the pack")
    return manifest


class _HeaderTooLarge(Exception):
    """Raised from inside tarfile's header parsing; turned into a PackError by ``_PackReader``."""


class _GuardedTarInfo(tarfile.TarInfo):
    """tarfile reads a pax or GNU long-name header's whole content into memory before handing
    over the member it describes; refuse one larger than any name of ours could need first.
    (``_proc_member`` is tarfile's per-header hook, the same in every Python 3.)"""

    def _proc_member(self, tarfile_: tarfile.TarFile):  # type: ignore[override]
        extended = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
        if self.type in extended and self.size > _EXTENDED_HEADER_MAX_BYTES:
            raise _HeaderTooLarge(f"has an extended tar header of {self.size} bytes (at most {_EXTENDED_HEADER_MAX_BYTES})")
        return super()._proc_member(tarfile_)


class _CountingReader:
    """The decompressed stream, counted: reading past ``limit`` bytes stops a decompression bomb
    however well it compresses, before memory or disk fill up."""

    def __init__(self, source: BinaryIO, pack: Path):
        self._source = source
        self._pack = pack
        self.count = 0
        self.limit = MANIFEST_MAX_BYTES + _TAR_SLACK_FIXED + _TAR_SLACK_PER_MEMBER
        self.over_limit = "before its manifest ends"

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(_CHUNK if size is None or size < 0 else size)
        self.count += len(data)
        if self.count > self.limit:
            raise PackError(f"unpacks to more than {self.limit} bytes, {self.over_limit}", Location(self._pack))
        return data


class _PackReader:
    """One pass over a pack: file -> zstd stream -> byte counter -> tar stream, with every
    failure of the layers below turned into one PackError line."""

    def __init__(self, pack: Path):
        self.pack = pack
        self.last_member: str | None = None

    def __enter__(self) -> _PackReader:
        try:
            self._file = open(self.pack, "rb")  # noqa: SIM115 - closed by __exit__
        except OSError as exc:
            raise self.error(f"cannot read: {exc.strerror or exc}") from None
        try:
            if os.fstat(self._file.fileno()).st_size == 0:
                raise self.error("is empty, not a pack")
            decompressed = zstandard.ZstdDecompressor().stream_reader(self._file, read_across_frames=True, closefd=False)
            self._stream = _CountingReader(decompressed, self.pack)
            self._tar = self._parse(
                lambda: tarfile.open(fileobj=self._stream, mode="r|", tarinfo=_GuardedTarInfo, encoding="utf-8", errors="surrogateescape"),
                "before its manifest",
            )
        except BaseException:
            self._file.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._file.close()

    def error(self, message: str) -> PackError:
        return PackError(message, Location(self.pack))

    # -- the layers below, their failures named

    def _parse(self, step: Callable[[], object], where: str):
        """Run one tarfile/zstd step; its failure becomes one line saying where it happened.
        tarfile is not hardened against hostile headers (it can raise ValueError and others
        on bad numbers), so whatever it raises on bad bytes is a refusal, not a crash."""
        try:
            return step()
        except DlmError:
            raise
        except _HeaderTooLarge as exc:
            raise self.error(f"{exc} ({where})") from None
        except zstandard.ZstdError as exc:
            raise self._zstd_error(exc) from None
        except OSError as exc:
            raise self.error(f"cannot read: {exc.strerror or exc}") from None
        except Exception as exc:  # noqa: BLE001 - see the docstring
            if isinstance(exc, tarfile.ReadError) and "unexpected end" in str(exc) or self._zstd_problem() == "truncated":
                raise self.error(f"truncated (ends {where})") from None
            raise self.error(f"is not a valid tar archive ({where}: {collapse_whitespace(exc) or type(exc).__name__})") from None

    def _zstd_error(self, exc: Exception) -> PackError:
        detail = collapse_whitespace(exc).removeprefix("zstd decompress error: ")
        if self._zstd_problem() == "not zstd":
            return self.error("is not a zstd-compressed pack")
        return self.error(f"is corrupt (zstd: {detail})")

    def _zstd_problem(self) -> str | None:
        return zstd_frames_problem(self._file.fileno())

    def _where_next(self) -> str:
        return "after its manifest" if self.last_member is None else f"after member {quoted_name(self.last_member)}"

    # -- the steps of a scan

    def _next_header(self, where: str) -> tarfile.TarInfo | None:
        """The next member's header, checked for what no member may be before anything is read."""
        info = self._parse(self._tar.next, where)
        if info is None:
            return None
        problem = member_name_problem(info.name)
        if problem:
            raise self.error(f"member {quoted_name(info.name)} is not a safe path ({problem})")
        if info.type not in _REGULAR_TYPES or info.sparse is not None:
            kind = "a sparse file" if info.sparse is not None else _TYPE_NAMES.get(info.type, f"an entry of tar type {info.type!r}")
            target = f" to {quoted_name(info.linkname)}" if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
            raise self.error(f"{quoted_name(info.name)} is {kind}{target}; a pack holds regular files only")
        return info

    def read_manifest(self) -> dict:
        """The first member, which must be ``manifest.json``, parsed and checked for shape."""
        info = self._next_header("before its manifest")
        if info is None:
            raise self.error(f"holds no {MANIFEST}")
        if info.name != MANIFEST:
            raise self.error(f"member {quoted_name(info.name)} comes before {MANIFEST}; a pack starts with its manifest")
        if info.size > MANIFEST_MAX_BYTES:
            raise self.error(f"{MANIFEST} is {info.size} bytes, more than the {MANIFEST_MAX_BYTES} a manifest may take")
        data = io.BytesIO()
        self._read_data(info, data.write)
        self.last_member = MANIFEST
        return self._parse_manifest(data.getvalue())

    def _parse_manifest(self, data: bytes) -> dict:
        try:
            manifest = json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicate_keys)
        except (ValueError, RecursionError) as exc:
            raise self.error(f"{MANIFEST} is not valid JSON ({collapse_whitespace(exc)})") from None
        if not isinstance(manifest, dict):
            raise self.error(f"{MANIFEST} is malformed: not a JSON object")
        if type(manifest.get("format")) is not int or manifest["format"] != FORMAT:  # not True, not 1.0
            raise self.error(f"{MANIFEST} has format {collapse_whitespace(repr(manifest.get('format')))}; this dlm reads format {FORMAT}")
        problem = manifest_shape_problem(manifest, max_total=HARD_CAP_BYTES)
        if problem:
            raise self.error(f"{MANIFEST} is malformed: {problem}")
        return manifest

    def limit_to(self, manifest: dict) -> None:
        """From here on the stream may hold what the manifest declares plus tar's framing."""
        allowed = self._stream.count + manifest["total_size"] + _TAR_SLACK_FIXED + _TAR_SLACK_PER_MEMBER * len(manifest["members"])
        if allowed > HARD_CAP_BYTES:
            self._stream.limit, self._stream.over_limit = HARD_CAP_BYTES, "the most any pack may unpack to"
        else:
            self._stream.limit, self._stream.over_limit = allowed, "more than its manifest allows"

    def next_member(self) -> tarfile.TarInfo | None:
        info = self._next_header(self._where_next())
        if info is not None and info.name == MANIFEST:
            raise self.error(f"{MANIFEST} appears twice")
        return info

    def copy_member(self, info: tarfile.TarInfo, sha256: str, writer: _FolderWriter | None) -> None:
        """Stream a member's content, hashing it, to ``writer`` (or nowhere when verifying); the
        hash is compared at its end. A partial file is left only in the temp folder, which the
        caller removes."""
        if writer is None:
            digest = self._read_data(info, None)
        else:
            handle = writer.open(info.name, bool(info.mode & 0o111))
            with handle:
                digest = self._read_data(info, lambda chunk: writer.write(handle, chunk))
                if digest == sha256:
                    writer.finish(handle)
        if digest != sha256:
            raise self.error(f"member {quoted_name(info.name)} has sha256 {digest[:12]}… but the manifest says {sha256[:12]}…")
        self.last_member = info.name

    def _read_data(self, info: tarfile.TarInfo, sink: Callable[[bytes], object] | None) -> str:
        """Read exactly the member's declared size; its sha256."""
        where = f"inside member {quoted_name(info.name)}"
        source = self._parse(lambda: self._tar.extractfile(info), where)
        digest = hashlib.sha256()
        remaining = info.size
        while remaining:
            chunk = self._parse(lambda: source.read(min(_CHUNK, remaining)), where)
            if not chunk:
                raise self.error(f"truncated (ends {where})")
            digest.update(chunk)
            if sink is not None:
                sink(chunk)
            remaining -= len(chunk)
        return digest.hexdigest()

    def finish(self) -> None:
        """After the tar's end: only zero padding may follow (read through the counter, so the
        bomb limit holds and zstd checks its frame checksums), and the file must end exactly
        at the end of its last zstd frame (zstd's stream reader says nothing when it does not)."""
        where = self._where_next()
        while chunk := self._parse(lambda: self._stream.read(_CHUNK), where):
            if chunk.strip(b"\0"):
                raise self.error(f"has data after the end of its tar archive ({where})")
        problem = self._zstd_problem()
        if problem == "truncated":
            raise self.error(f"truncated (ends {where})")
        if problem:
            raise self.error(f"is corrupt (zstd: {problem})")
