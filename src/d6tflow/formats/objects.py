"""Arrays, fitted models and text: numpy's .npy/.npz, joblib, plain text and Markdown."""

from __future__ import annotations

from typing import Any, ClassVar

from d6tflow.errors import UsageError
from d6tflow.formats.base import Format, final_name, needs, register


@register
class NpyFormat(Format):
    """One numpy array as ``.npy`` (no pickled objects); ``load(mmap_mode="r")`` maps it."""

    name = "npy"
    ext = "npy"

    def save(self, obj: Any, path: str, **kwargs: Any) -> None:
        import numpy as np

        kwargs.setdefault("allow_pickle", False)
        with open(path, "wb") as f:  # a file object: np.save would add ".npy" to a name
            np.save(f, np.asanyarray(obj), **kwargs)

    def load(self, path: str, **kwargs: Any) -> Any:
        import numpy as np

        return np.load(path, **kwargs)


@register
class NpzFormat(Format):
    """A dict of numpy arrays as ``.npz`` (``compressed=True``: zip-compressed); loaded back as
    a dict in the same order."""

    name = "npz"
    ext = "npz"

    def save(self, obj: Any, path: str, compressed: bool = False, **kwargs: Any) -> None:
        import numpy as np

        if not isinstance(obj, dict):
            raise UsageError(
                f"{final_name(path)}: the npz format saves a dict of arrays, got "
                f"{type(obj).__name__}; save one array with format = 'npy' (TaskNumpy)"
            )
        write = np.savez_compressed if compressed else np.savez
        with open(path, "wb") as f:
            write(f, **obj, **kwargs)

    def load(self, path: str, **kwargs: Any) -> Any:
        import numpy as np

        kwargs.setdefault("allow_pickle", False)
        with np.load(path, **kwargs) as archive:
            return {key: archive[key] for key in archive.files}


@register
class JoblibFormat(Format):
    """Any object (a fitted scikit-learn model…) through ``joblib.dump``; ``compress=3`` (or
    ``TaskJoblib.compress``) compresses. Loading unpickles: trusted files only."""

    name = "joblib"
    ext = "joblib"
    unpickles = True
    compress: ClassVar[int | bool | str | tuple] = 0

    def save(self, obj: Any, path: str, **kwargs: Any) -> None:
        joblib = needs("joblib", "joblib")
        kwargs.setdefault("compress", self.compress)
        joblib.dump(obj, path, **kwargs)

    def load(self, path: str, **kwargs: Any) -> Any:
        joblib = needs("joblib", "joblib")
        return joblib.load(path, **kwargs)


@register
class TextFormat(Format):
    """A str as a UTF-8 text file, written and read back exactly (line endings included)."""

    name = "txt"
    ext = "txt"

    def save(self, obj: Any, path: str, encoding: str = "utf-8", **kwargs: Any) -> None:
        if not isinstance(obj, str):
            raise UsageError(
                f"{final_name(path)}: a text output saves a str, got {type(obj).__name__}"
            )
        with open(path, "w", encoding=encoding, newline="") as f:
            f.write(obj)

    def load(self, path: str, encoding: str = "utf-8", **kwargs: Any) -> Any:
        with open(path, encoding=encoding, newline="") as f:
            return f.read()


@register
class MarkdownFormat(TextFormat):
    name = "md"
    ext = "md"
