"""Which store holds a path, and the folders d6tflow knows: the data folder (``set_dir``) and the
remote for push, pull and the shared cache (``set_remote``).

A path with a protocol (``s3://bucket/project/…``, ``memory://…``) belongs to a
:class:`~d6tflow.remote_storage.RemoteStore`, one per folder registered with its storage options
(an unregistered URL gets one for its bucket, with fsspec's default options); every other path
is on the local disk (:data:`~d6tflow.storage.LOCAL`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from d6tflow import settings, store
from d6tflow.errors import ConfigurationError, MissingDependencyError, UntrustedPickleError
from d6tflow.storage import LOCAL, Store

if TYPE_CHECKING:
    from d6tflow.remote_storage import RemoteStore

__all__ = [
    "enable_cloud_storage",
    "enable_gcs",
    "get_remote",
    "is_url",
    "open_remote",
    "set_dir",
    "set_remote",
    "store_for",
]

# Registered remote folders, by URL (no trailing "/"), longest first.
_remotes: dict[str, RemoteStore] = {}
# The remote of push/pull/run(remote=True), if set.
_default_remote: list[RemoteStore] = []
# While a run(remote=...) lasts: the shared cache's remote, and whether to push what runs.
_cache: list[tuple[RemoteStore, bool]] = []


def is_url(path: Any) -> bool:
    """Does ``path`` name a folder of a remote store (a URL other than ``file://``)?"""
    text = path if type(path) is str else str(path)
    return "://" in text and not text.startswith("file://")


def store_for(path: str | os.PathLike) -> Store:
    """The store that holds ``path``."""
    text = path if type(path) is str else str(path)
    if "://" not in text:
        return LOCAL
    for prefix, remote in _remotes.items():
        if text.startswith(prefix) and (len(text) == len(prefix) or text[len(prefix)] == "/"):
            return remote
    scheme, _, rest = text.partition("://")
    return open_remote(f"{scheme}://{rest.split('/', 1)[0]}")


def open_remote(
    url: str, storage_options: dict[str, Any] | None = None, trusted: bool | None = None
) -> RemoteStore:
    """The store of the remote folder ``url`` (registered, so paths below it find it)."""
    url = _normalized(url)
    found = _remotes.get(url)
    if found is not None and storage_options is None:
        if trusted is not None:
            found.trusted = trusted
        return found
    try:
        import fsspec

        from d6tflow.remote_storage import RemoteStore
    except ImportError as e:
        raise MissingDependencyError(
            f"A remote folder ({url}) needs fsspec and the file system of its protocol: "
            "pip install 'd6tflow[remote]' (s3fs for s3://; gcsfs, adlfs … for others)"
        ) from e
    options = dict(storage_options or {})
    if url.startswith(("file://", "local://")):
        options.setdefault("auto_mkdir", True)  # object stores need no folders; a disk does
    try:
        fs, _ = fsspec.core.url_to_fs(url, **options)
    except (ImportError, ValueError) as e:
        raise MissingDependencyError(
            f"No file system for {url}: {e}. Install the package for its protocol "
            "(pip install 'd6tflow[remote]' installs s3fs)"
        ) from e
    remote = RemoteStore(url, fs, storage_options, trusted=True if trusted is None else trusted)
    _remotes[url] = remote
    ordered = sorted(_remotes.items(), key=lambda item: -len(item[0]))
    _remotes.clear()
    _remotes.update(ordered)
    return remote


def _normalized(url: str) -> str:
    return str(url).rstrip("/")


class DataFolder(type(Path())):  # type: ignore[misc]  # PosixPath or WindowsPath (Python < 3.12)
    """The local data folder as ``set_dir`` returns it: a ``pathlib.Path`` (the original returned
    one, and code builds on it: ``pathdata = d6tflow.set_dir("data/")``) that a notebook cell
    ending with ``set_dir(...)`` does not echo."""

    def _ipython_display_(self) -> None:
        """IPython shows nothing for this value (it calls this instead of printing the repr)."""


def set_dir(dir: str | os.PathLike | None = None, **storage_options: Any) -> Path | Any:
    """Set the data folder all outputs go to (default ``data`` in the working directory): a local
    folder, or a remote one by URL (``s3://bucket/project`` with its fsspec
    ``storage_options``, ``memory://project``; see docs/sharing.md).

    >>> d6tflow.set_dir("output/experiment1")

    Returns the folder, as the original did: a :class:`DataFolder` (a ``pathlib.Path`` that a
    notebook cell does not echo), or for a URL its ``upath.UPath``; ``d6tflow.settings.dirpath``
    holds it too.
    """
    if settings.isinitpipe:
        raise ConfigurationError("Using d6tpipe, set dir via d6tflow.pipes.set_default()")
    text = None if dir is None else (dir if isinstance(dir, str) else str(dir))
    if text is not None and text.startswith("file://"):
        text = text[len("file://") :]
        dir = text
    if text is not None and is_url(text):
        dirpath = _url_path(text, storage_options)
        # The URL as upath spells it: paths below it (str of their UPath) then find its store.
        settings.dir = _normalized(str(dirpath))
        open_remote(settings.dir, storage_options)
        settings.dirpath = dirpath
    elif storage_options:
        raise ConfigurationError(
            f"set_dir({dir!r}, ...): storage options {sorted(storage_options)} apply to remote "
            "folders (a URL such as s3://bucket/project), not to a local folder"
        )
    elif dir is None:
        if not is_url(settings.dir):
            settings.dirpath.mkdir(parents=True, exist_ok=True)
    else:
        settings.dir = str(dir)
        settings.dirpath = Path(dir)
    settings.isinit = True
    store.forget_all_dirs()
    return settings.dirpath if is_url(settings.dir) else DataFolder(settings.dirpath)


def folder_text(dirpath: Any) -> str:
    """A folder as text: a local path, or the URL of a remote one (a ``upath.UPath``)."""
    try:
        return os.fspath(dirpath)
    except TypeError:
        return str(dirpath).rstrip("/")


def enable_cloud_storage(
    protocol: str, bucket: str, prefix: str | None = None, **storage_options: Any
) -> str:
    """The original's way to a remote data folder: ``set_dir("<protocol>://<bucket>/<prefix>",
    **storage_options)``. Returns the URL."""
    url = f"{protocol.removesuffix('://')}://{bucket.strip('/')}"
    if prefix:
        url += "/" + prefix.strip("/")
    set_dir(url, **storage_options)
    settings.cloud_fs_prefix = url
    settings.cloud_fs_enabled = True
    return url


def enable_gcs(bucket: str, prefix: str | None = None, **storage_options: Any) -> str:
    """``enable_cloud_storage("gs", bucket, prefix)`` (needs gcsfs: ``pip install gcsfs``)."""
    return enable_cloud_storage("gs", bucket, prefix, **storage_options)


def _url_path(url: str, storage_options: dict[str, Any]) -> Any:
    """``settings.dirpath`` of a remote data folder: a ``upath.UPath`` (pathlib for fsspec)."""
    try:
        from upath import UPath
    except ImportError as e:
        raise MissingDependencyError(
            "A remote data folder needs universal_pathlib: pip install 'd6tflow[remote]'"
        ) from e
    return UPath(url, **storage_options)


def set_remote(
    url: str | None, trusted: bool = False, **storage_options: Any
) -> RemoteStore | None:
    """Set the remote folder that ``push``, ``pull`` and ``run(remote=True)`` use (any fsspec URL,
    with its storage options; ``None`` unsets it). ``trusted=True``: pickled outputs pulled from
    it may be loaded (unpickling runs code of whoever wrote them).

    >>> d6tflow.set_remote("s3://team-bucket/project", endpoint_url="http://127.0.0.1:9000")
    """
    _default_remote.clear()
    if url is None:
        return None
    text = url if isinstance(url, str) else str(url)
    if not is_url(text):
        text = os.path.abspath(text.removeprefix("file://"))
        text = "file://" + text
    remote = open_remote(text, storage_options or None, trusted=trusted)
    remote.trusted = trusted
    _default_remote.append(remote)
    return remote


def get_remote(
    remote: Any = None, trusted: bool | None = None, storage_options: dict | None = None
) -> RemoteStore:
    """The remote a call means: ``remote`` (a URL or a store), else the one of ``set_remote``."""
    if remote is None or remote is True:
        if not _default_remote:
            raise ConfigurationError(
                "No remote set: call d6tflow.set_remote('s3://bucket/project', ...) first, or "
                "pass remote='<url>'"
            )
        found = _default_remote[0]
    elif isinstance(remote, str):
        text = remote if "://" in remote else "file://" + os.path.abspath(remote)
        known = _remotes.get(_normalized(text))
        # A remote named by URL is trusted only if said so (here or by set_remote/set_dir).
        found = (
            known
            if known is not None and storage_options is None
            else open_remote(text, storage_options, trusted=bool(trusted))
        )
    else:
        found = remote
    if trusted is not None:
        found.trusted = trusted
    return found


@contextlib.contextmanager
def shared_cache(
    remote: Any, push: bool = True, trusted: bool | None = None
) -> Iterator[RemoteStore | None]:
    """While inside, a task about to run is first looked up on ``remote`` (a URL, or True for
    ``set_remote``'s): outputs made there from the same task id, code, upstream outputs and
    input files are pulled instead; what runs is pushed after (``push=False``: not)."""
    if remote is None or remote is False:
        yield None
        return
    found = get_remote(remote, trusted=trusted)
    _cache[:] = [(found, push)]
    try:
        yield found
    finally:
        _cache.clear()


def active_cache() -> tuple[RemoteStore, bool] | None:
    """(remote, push) of the shared cache of the run in progress, if it has one."""
    return _cache[0] if _cache else None


def remote_settings() -> dict[str, Any]:
    """The registered remotes as plain values, for worker processes (see executors.shipping)."""
    return {
        "remotes": [(url, r.options, r.trusted) for url, r in reversed(_remotes.items())],
        "default": _default_remote[0].url if _default_remote else None,
        "cache": (_cache[0][0].url, _cache[0][1]) if _cache else None,
    }


def apply_remote_settings(snapshot: dict[str, Any]) -> None:
    """Register the remotes of :func:`remote_settings` in this (worker) process."""
    for url, options, trusted in snapshot.get("remotes", []):
        open_remote(url, options, trusted)
    default = snapshot.get("default")
    _default_remote.clear()
    if default:
        _default_remote.append(_remotes[default])
    cache = snapshot.get("cache")
    _cache[:] = [(_remotes[cache[0]], cache[1])] if cache else []


def pulled_from(path: str) -> str | None:
    """The remote a local output was pulled from (its record says), or None."""
    where = store_for(path)
    if where is not LOCAL:
        return None
    folder, name = os.path.split(path)
    return where.records(folder).origin_of(name)


def check_trusted(path: str, origin: str | None, what: str = "output") -> None:
    """Refuse to unpickle ``path`` when it came from a remote not marked trusted: ``origin`` is
    the remote it was pulled from (None: made here); a path in a remote data folder has that
    folder's trust."""
    where = store_for(path)
    if where is not LOCAL:
        if getattr(where, "trusted", True):
            return
        origin = where.url  # type: ignore[attr-defined]
    elif origin is None:
        return
    else:
        remote = _remotes.get(_normalized(origin))
        if remote is not None and remote.trusted:
            return
    raise UntrustedPickleError(
        f"Not loading the {what} {path}: it is a pickle that came from {origin}, and unpickling "
        "runs whatever code its writer put in it. If you trust that remote, call "
        f"d6tflow.set_remote({origin!r}, trusted=True) (or pass trusted=True to pull/run), "
        "then load again."
    )
