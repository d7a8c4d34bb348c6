"""The format registry (``base``) and the built-in formats, registered by name on import.

Each module imports its library only inside ``save``/``load``: ``import d6tflow`` stays light,
and a missing library fails the task that needs it with the extra to install (``needs``).
"""

from d6tflow.formats import builtin, columnar, figures, objects, sql
from d6tflow.formats.base import Format, final_name, get_format, needs, register, registered_formats
from d6tflow.formats.builtin import (
    CacheFormat,
    CSVFormat,
    CSVGZFormat,
    DaskParquetFormat,
    ExcelFormat,
    JsonFormat,
    ParquetFormat,
    PickleFormat,
)
from d6tflow.formats.columnar import (
    ArrowParquetFormat,
    HDF5Format,
    PolarsCSVFormat,
    PolarsParquetFormat,
)
from d6tflow.formats.figures import FigurePath, HTMLFigureFormat, PNGFormat, SVGFormat
from d6tflow.formats.objects import (
    JoblibFormat,
    MarkdownFormat,
    NpyFormat,
    NpzFormat,
    TextFormat,
)
from d6tflow.formats.sql import SQLFormat

__all__ = [
    "ArrowParquetFormat",
    "CSVFormat",
    "CSVGZFormat",
    "CacheFormat",
    "DaskParquetFormat",
    "ExcelFormat",
    "FigurePath",
    "Format",
    "HDF5Format",
    "HTMLFigureFormat",
    "JoblibFormat",
    "JsonFormat",
    "MarkdownFormat",
    "NpyFormat",
    "NpzFormat",
    "PNGFormat",
    "ParquetFormat",
    "PickleFormat",
    "PolarsCSVFormat",
    "PolarsParquetFormat",
    "SQLFormat",
    "SVGFormat",
    "TextFormat",
    "final_name",
    "get_format",
    "needs",
    "register",
    "registered_formats",
]
_modules = (builtin, columnar, figures, objects, sql)  # imported for their registrations
