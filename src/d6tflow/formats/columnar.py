"""Column stores beyond pandas: Polars and Arrow tables as Parquet, Polars CSV, pandas HDF5."""

from __future__ import annotations

from typing import Any, ClassVar

from d6tflow.formats.base import Format, needs, register


@register
class PolarsParquetFormat(Format):
    """A polars DataFrame (a LazyFrame is collected) as Parquet, with polars' own defaults;
    ``load(lazy=True)`` returns ``pl.scan_parquet(path)``."""

    name = "parquet-polars"
    ext = "parquet"

    def save(self, obj: Any, path: str, **kwargs: Any) -> None:
        pl = needs("polars", "polars")
        if isinstance(obj, pl.LazyFrame):
            obj = obj.collect()
        obj.write_parquet(path, **kwargs)

    def load(self, path: str, lazy: bool = False, **kwargs: Any) -> Any:
        pl = needs("polars", "polars")
        return pl.scan_parquet(path, **kwargs) if lazy else pl.read_parquet(path, **kwargs)


@register
class PolarsCSVFormat(Format):
    """A polars DataFrame as CSV; dates and times are parsed back (``try_parse_dates``)."""

    name = "csv-polars"
    ext = "csv"

    def save(self, obj: Any, path: str, **kwargs: Any) -> None:
        pl = needs("polars", "polars")
        if isinstance(obj, pl.LazyFrame):
            obj = obj.collect()
        obj.write_csv(path, **kwargs)

    def load(self, path: str, lazy: bool = False, **kwargs: Any) -> Any:
        pl = needs("polars", "polars")
        kwargs.setdefault("try_parse_dates", True)
        return pl.scan_csv(path, **kwargs) if lazy else pl.read_csv(path, **kwargs)


@register
class ArrowParquetFormat(Format):
    """A pyarrow Table as Parquet (a pandas DataFrame is converted); loaded back memory-mapped."""

    name = "parquet-arrow"
    ext = "parquet"

    def save(self, obj: Any, path: str, **kwargs: Any) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not isinstance(obj, pa.Table):
            obj = pa.Table.from_pandas(obj)
        pq.write_table(obj, path, **kwargs)

    def load(self, path: str, **kwargs: Any) -> Any:
        import pyarrow.parquet as pq

        kwargs.setdefault("memory_map", True)
        return pq.read_table(path, **kwargs)


@register
class HDF5Format(Format):
    """A DataFrame in an HDF5 file under the key ``data`` (the original's ``TaskH5Pandas``);
    needs PyTables: ``pip install 'd6tflow[h5]'``. Written as a PyTables table (categorical
    columns kept; ``save(df, format="fixed")`` for pandas' default); the original's files read
    back either way."""

    name = "hdf5"
    ext = "hdf5"
    key: ClassVar[str] = "data"

    def save(self, obj: Any, path: str, **kwargs: Any) -> None:
        needs("tables", "h5")
        kwargs.setdefault("key", self.key)
        kwargs.setdefault("format", "table")
        obj.to_hdf(path, **kwargs)

    def load(self, path: str, **kwargs: Any) -> Any:
        needs("tables", "h5")
        import pandas as pd

        kwargs.setdefault("key", self.key)
        return pd.read_hdf(path, **kwargs)
