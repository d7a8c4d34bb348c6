"""How tasks, run results and previews show in a notebook: as HTML, drawn by ``notebook.py``.

The classes that show (``Task``, ``RunResult``, the preview) sit in layers below the code that
draws them, so they only ask here: ``notebook.py`` registers its renderers when ``d6tflow`` is
imported, and nothing below it imports any display code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_renderers: dict[type, Callable[[Any], str]] = {}


def register_html(cls: type, render: Callable[[Any], str]) -> None:
    """Show instances of ``cls`` (and of its subclasses) in notebooks as ``render(obj)``."""
    _renderers[cls] = render


class HtmlView:
    """Gives a class ``_repr_html_``, which Jupyter calls to show an object as a cell's result."""

    __slots__ = ()

    def _repr_html_(self) -> str | None:
        for cls in type(self).__mro__:
            render = _renderers.get(cls)
            if render is not None:
                return render(self)
        return None  # nothing registered: Jupyter shows the repr
