"""Content fingerprints of files and folders (xxh3: cheap enough to take on every save), and the
text hash that code fingerprints are made of (code_fingerprint.py).

Hashing lives here and nowhere else; provenance.py decides what the fingerprints mean.
"""

from __future__ import annotations

import os
import stat

import xxhash

_CHUNK = 1 << 20


def file_hash(path: str | os.PathLike) -> str:
    """Content fingerprint of a file (xxh3-128, ~5 GB/s) or of a folder's files and names."""
    return file_record(path)[2]


def file_record(path: str | os.PathLike) -> tuple[int, int, str]:
    """(size, mtime in ns, content fingerprint) of a file or folder, from one open of a file."""
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if os.path.isdir(path):  # some platforms refuse to open a folder
            return _folder_record(path)
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            return _folder_record(path)
        # Raw descriptor reads, no more than the file holds: most outputs of small tasks are a
        # few bytes, where a file object or a 1 MB read buffer would cost more than hashing.
        digest = xxhash.xxh3_128()
        want, left = min(_CHUNK, st.st_size + 1), st.st_size
        while chunk := os.read(fd, want):
            digest.update(chunk)
            left -= len(chunk)
            if left <= 0 and len(chunk) < want:  # all of it, and the end: no read to see EOF
                break
    finally:
        os.close(fd)
    return st.st_size, st.st_mtime_ns, digest.hexdigest()


def _folder_record(path: str) -> tuple[int, int, str]:
    digest = xxhash.xxh3_128()
    for name in _walk(path):
        digest.update(name.encode())
        digest.update(file_hash(os.path.join(path, name)).encode())
    size, mtime_ns = file_stat(path)  # type: ignore[misc]
    return size, mtime_ns, digest.hexdigest()


def _walk(folder: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(os.path.relpath(os.path.join(root, f), folder) for f in sorted(files))
    return found


def file_stat(path: str | os.PathLike) -> tuple[int, int] | None:
    """(size, mtime in ns) of a file, or a folder's total size and newest mtime; None if absent."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size, st.st_mtime_ns
    size, newest = 0, st.st_mtime_ns
    for name in _walk(path):
        sub = os.stat(os.path.join(path, name))
        size, newest = size + sub.st_size, max(newest, sub.st_mtime_ns)
    return size, newest


def text_hash(text: str) -> str:
    return xxhash.xxh3_64_hexdigest(text.encode())
