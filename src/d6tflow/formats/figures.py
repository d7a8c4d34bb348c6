"""Figures (matplotlib or plotly) as PNG, SVG or HTML; loading returns the file's path, which a
notebook displays as the picture."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from d6tflow.errors import UsageError
from d6tflow.formats.base import Format, final_name, needs, register


class FigurePath(type(Path())):  # type: ignore[misc]  # PosixPath or WindowsPath
    """The path of a saved figure; Jupyter shows the picture itself (``_repr_*_``)."""

    def _repr_png_(self) -> bytes | None:
        return self.read_bytes() if self.suffix == ".png" else None

    def _repr_svg_(self) -> str | None:
        return self.read_text(encoding="utf-8") if self.suffix == ".svg" else None

    def _repr_html_(self) -> str | None:
        return self.read_text(encoding="utf-8") if self.suffix == ".html" else None


def _is_plotly(obj: Any) -> bool:
    return hasattr(obj, "write_html") and hasattr(obj, "to_plotly_json")


def _matplotlib_figure(obj: Any, path: str) -> Any:
    figure = obj.get_figure() if hasattr(obj, "get_figure") and not hasattr(obj, "savefig") else obj
    if not hasattr(figure, "savefig"):
        raise UsageError(
            f"{final_name(path)}: a figure output saves a matplotlib Figure (or Axes) or a plotly "
            f"Figure, got {type(obj).__name__}"
        )
    return figure


class _ImageFormat(Format):
    """PNG or SVG: matplotlib's ``savefig``; plotly's ``write_image`` (which needs kaleido)."""

    def save(self, obj: Any, path: str, **kwargs: Any) -> None:
        if _is_plotly(obj):
            # Not in the figures extra: kaleido needs a Chrome it finds or downloads itself.
            needs("kaleido", None, "pip install kaleido (plotly's image export), or save as html")
            obj.write_image(path, format=self.ext, **kwargs)
            return
        matplotlib = needs("matplotlib", "figures")
        figure = _matplotlib_figure(obj, path)
        # Same figure, same bytes: no date in the file, fixed ids in an SVG, so rerunning a task
        # that draws the same picture does not make its downstream tasks stale.
        kwargs.setdefault("metadata", {"Date": None} if self.ext == "svg" else {})
        with matplotlib.rc_context({"svg.hashsalt": "d6tflow"}):
            figure.savefig(path, format=self.ext, **kwargs)

    def load(self, path: str, **kwargs: Any) -> FigurePath:
        return FigurePath(path)


@register
class PNGFormat(_ImageFormat):
    name = "png"
    ext = "png"


@register
class SVGFormat(_ImageFormat):
    name = "svg"
    ext = "svg"


@register
class HTMLFigureFormat(Format):
    """A plotly figure as a standalone HTML page (plotly.js included: it opens offline); a
    matplotlib figure as a page holding its PNG."""

    name = "html"
    ext = "html"

    def save(self, obj: Any, path: str, **kwargs: Any) -> None:
        if _is_plotly(obj):
            kwargs.setdefault("div_id", "d6tflow-figure")  # plotly's default is random
            obj.write_html(path, **kwargs)
            return
        needs("matplotlib", "figures")
        import io

        buffer = io.BytesIO()
        _matplotlib_figure(obj, path).savefig(buffer, format="png", metadata={}, **kwargs)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        with open(path, "w", encoding="utf-8") as f:
            f.write(f'<img src="data:image/png;base64,{data}"/>\n')

    def load(self, path: str, **kwargs: Any) -> FigurePath:
        return FigurePath(path)
