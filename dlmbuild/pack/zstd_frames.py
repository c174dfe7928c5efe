"""Whether a file is a sequence of whole zstd frames, told from the framing alone.

Its own module because it is a reader of RFC 8878's frame format, nothing to do with tar or
manifests: the pack reader asks it whether a file that decompressed without complaint was in
fact cut short, was never zstd, or has something after its last frame.
"""

from __future__ import annotations

import os

_ZSTD_MAGIC = 0xFD2FB528
_ZSTD_SKIPPABLE = range(0x184D2A50, 0x184D2A60)


class _EndOfFile(Exception):
    """The file ends inside a zstd frame."""


def zstd_frames_problem(fd: int) -> str | None:
    """None if the file is a sequence of whole zstd frames; else "truncated", "not zstd" or
    what is wrong with the framing.

    zstandard's stream reader returns end-of-stream, no error, when its input stops in the
    middle of a frame, so a pack cut inside its final padding or checksum would read as whole.
    The frame structure is walked here instead: three bytes read per block of up to 128 KiB
    (RFC 8878, section 3.1), never the content."""
    return _FrameWalker(fd).problem()


class _FrameWalker:
    def __init__(self, fd: int):
        self._fd = fd
        self._size = os.fstat(fd).st_size
        self._position = 0

    def _take(self, count: int) -> bytes:
        data = os.pread(self._fd, count, self._position)
        if len(data) < count:
            raise _EndOfFile
        self._position += count
        return data

    def _number(self, count: int) -> int:
        return int.from_bytes(self._take(count), "little")

    def problem(self) -> str | None:
        frames = 0
        try:
            while self._position < self._size or frames == 0:
                magic = self._number(4)
                if magic in _ZSTD_SKIPPABLE:
                    self._position += self._number(4)
                elif magic == _ZSTD_MAGIC:
                    problem = self._skip_frame()
                    if problem:
                        return problem
                elif frames == 0:
                    return "not zstd"
                else:
                    return f"{self._size - self._position + 4} bytes after its last frame are not a zstd frame"
                frames += 1
        except _EndOfFile:
            return "truncated"
        return "truncated" if self._position > self._size else None

    def _skip_frame(self) -> str | None:
        """Skip one frame after its magic number: header, blocks, checksum."""
        descriptor = self._take(1)[0]
        if descriptor & 0x08:
            return "a frame header sets its reserved bit"
        single_segment = bool(descriptor & 0x20)
        content_size_bytes = (int(single_segment), 2, 4, 8)[descriptor >> 6]
        dictionary_id_bytes = (0, 1, 2, 4)[descriptor & 0x03]
        self._position += (0 if single_segment else 1) + dictionary_id_bytes + content_size_bytes
        while True:
            header = self._number(3)
            block_type, block_size = (header >> 1) & 0x03, header >> 3
            if block_type == 3:
                return "a block has the reserved type"
            self._position += 1 if block_type == 1 else block_size  # RLE blocks store one byte
            if header & 0x01:  # the frame's last block
                break
        if descriptor & 0x04:
            self._position += 4  # content checksum
        return None
