"""A user's flow written as module files on disk, imported, then edited and re-imported: how
tests change code the way a user does (the fingerprint reads the source files)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


class UserModules:
    def __init__(self, folder: Path):
        self.folder = folder
        self.names: list[str] = []

    def write(self, name: str, text: str):
        """Write ``<name>.py`` and import it (again, if it was imported)."""
        (self.folder / f"{name}.py").write_text(text)
        importlib.invalidate_caches()
        if name not in self.names:
            self.names.append(name)
        # Helpers first: a flow module re-imported must see the helpers as they are now.
        for module in self.names:
            sys.modules.pop(module, None)
        for module in self.names:
            importlib.import_module(module)
        return sys.modules[name]

    def edit(self, name: str, old: str, new: str):
        """Replace ``old`` by ``new`` in ``<name>.py`` and re-import it."""
        text = (self.folder / f"{name}.py").read_text()
        assert old in text, f"{old!r} is not in {name}.py"
        return self.write(name, text.replace(old, new))

    def __getitem__(self, name: str):
        return sys.modules[name]


def user_modules_in(tmp_path, monkeypatch):
    """Modules of a user's own code in the test's folder (which is on sys.path), for a fixture:
    ``yield from user_modules_in(tmp_path, monkeypatch)``."""
    monkeypatch.syspath_prepend(str(tmp_path))
    # An edit within the same second and of the same size would otherwise load stale bytecode.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    modules = UserModules(tmp_path)
    yield modules
    for name in modules.names:
        sys.modules.pop(name, None)
