"""A DataFrame as a table of a SQL database: an SQLite file in the data folder by default, any
SQLAlchemy URL otherwise (``SQLFormat(url=...)``).

The output's file is a small JSON *marker* naming the table with its row count, content hash,
index and dtypes; provenance records and checks that file like any other. Inside a run, ``save``
writes the rows to a staged table named from their content hash and writes the marker; when the
task commits (the marker renamed into place) the staged table replaces the task's table in one
transaction. A failed run leaves only a staged table that no marker names, dropped by the next
save; a crash between the marker's rename and the swap is finished by the next load or save.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import xxhash

from d6tflow.errors import OutputError, UsageError
from d6tflow.formats.base import Format, final_name, needs, register

#: The SQLite file of ``TaskSQL`` outputs without a URL, in the folder above the task's output
#: folder (the data folder, for the default layout ``<dir>/<task family>/``).
DEFAULT_DATABASE = "d6tflow.sqlite"
_STAGE = "d6tstage_"
_MAX_NAME = 63  # PostgreSQL's limit on identifiers
_engines: dict[tuple[int, str], Any] = {}


def table_name(file_name: str) -> str:
    """The table of the output file ``<task id>-<key>.sqltable``: ``<task id>_<key>`` (shortened
    with a hash past 63 characters)."""
    name = file_name.removesuffix("." + SQLFormat.ext).replace("-", "_")
    if len(name) > _MAX_NAME:
        name = f"{name[:50]}_{xxhash.xxh3_64_hexdigest(name.encode())[:12]}"
    return name


def _stage_prefix(table: str) -> str:
    return f"{_STAGE}{xxhash.xxh3_64_hexdigest(table.encode())[:10]}_"


def content_hash(df: Any) -> str:
    """A fingerprint of a DataFrame's values, index, column names and dtypes."""
    import pandas as pd

    digest = xxhash.xxh3_128()
    layout = [list(map(str, df.columns)), list(map(str, df.dtypes)), list(map(str, df.index.names))]
    digest.update(json.dumps(layout).encode())
    digest.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def engine_for(url: str) -> Any:
    """One SQLAlchemy engine per URL and process. SQLite's driver would commit DDL on its own:
    here every transaction is an explicit BEGIN, so the swap's DROP and RENAME commit together."""
    key = (os.getpid(), url)
    engine = _engines.get(key)
    if engine is None:
        sa = needs("sqlalchemy", "sql")
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"timeout": 120})

            @sa.event.listens_for(engine, "connect")
            def _manual_transactions(dbapi_connection: Any, record: Any) -> None:
                dbapi_connection.isolation_level = None

            @sa.event.listens_for(engine, "begin")
            def _begin(connection: Any) -> None:
                immediate = connection.get_execution_options().get("d6tflow_write")
                connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        else:
            engine = sa.create_engine(url)
        _engines[key] = engine
    return engine


def _quoted(engine: Any, name: str) -> str:
    return engine.dialect.identifier_preparer.quote(name)


def swap(engine: Any, staged: str, table: str) -> None:
    """Replace ``table`` by ``staged`` in one transaction (nothing to do once done)."""
    sa = needs("sqlalchemy", "sql")
    with engine.connect().execution_options(d6tflow_write=True) as conn, conn.begin():
        if not sa.inspect(conn).has_table(staged):
            return
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_quoted(engine, table)}")
        conn.exec_driver_sql(
            f"ALTER TABLE {_quoted(engine, staged)} RENAME TO {_quoted(engine, table)}"
        )


def _read_marker(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _is_default_index(df: Any) -> bool:
    import pandas as pd

    index = df.index
    return (
        isinstance(index, pd.RangeIndex)
        and index.start == 0
        and index.step == 1
        and index.name is None
    )


@register
class SQLFormat(Format):
    """A pandas DataFrame as a table (see the module's docstring); ``load`` returns it with its
    index and dtypes. Needs SQLAlchemy: ``pip install 'd6tflow[sql]'``."""

    name = "sql"
    ext = "sqltable"

    def __init__(self, url: str | None = None):
        #: A SQLAlchemy URL; None: ``d6tflow.sqlite`` in the data folder.
        self.url = url

    def __repr__(self) -> str:
        return f"<format 'sql' {self.url or DEFAULT_DATABASE}>"

    def database(self, path: str) -> str:
        """The SQLAlchemy URL the output at ``path`` is written to."""
        if self.url is not None:
            return self.url
        return "sqlite:///" + self.companions(path)[0]

    def companions(self, path: str) -> list[str]:
        if self.url is not None:
            return []
        folder = os.path.dirname(os.path.dirname(os.path.abspath(path)))
        return [os.path.join(folder, DEFAULT_DATABASE)]

    def save(self, obj: Any, path: str, **kwargs: Any) -> Callable[[str], None]:
        import pandas as pd

        if not isinstance(obj, pd.DataFrame):
            raise UsageError(
                f"{final_name(path)}: a SQL output saves a pandas DataFrame, got "
                f"{type(obj).__name__}"
            )
        for database in self.companions(path):
            os.makedirs(os.path.dirname(database), exist_ok=True)
        engine = engine_for(self.database(path))
        table = table_name(final_name(path))
        self._tidy(engine, os.path.join(os.path.dirname(path), final_name(path)), table)
        digest = content_hash(obj)
        staged = _stage_prefix(table) + digest[:12]
        keep_index = not _is_default_index(obj)
        labels = [
            name if name is not None else f"level_{i}" if obj.index.nlevels > 1 else "index"
            for i, name in enumerate(obj.index.names)
        ]
        # A writing transaction from its first statement: SQLite cannot turn a reading one into
        # a writing one while another process writes (it fails at once instead of waiting).
        with engine.connect().execution_options(d6tflow_write=True) as conn:
            obj.to_sql(
                staged,
                conn,
                if_exists="replace",
                index=keep_index,
                index_label=labels if keep_index else None,
                **kwargs,
            )
            conn.commit()
        marker = {
            "table": table,
            "staged": staged,
            "rows": len(obj),
            "hash": digest,
            "index": labels if keep_index else None,
            "index_names": list(obj.index.names) if keep_index else None,
            "index_dtypes": [str(obj.index.get_level_values(i).dtype) for i in range(len(labels))]
            if keep_index
            else None,
            "dtypes": {str(c): str(t) for c, t in obj.dtypes.items()},
            "database": None if self.url is None else engine.url.render_as_string(True),
        }
        with open(path, "w", encoding="utf-8") as f:
            json.dump(marker, f, sort_keys=True, indent=1)
        return lambda final_path: swap(engine, staged, table)

    def _tidy(self, engine: Any, final_path: str, table: str) -> None:
        """Finish the swap a crash may have interrupted, then drop the staged tables that failed
        runs of this output left (the task's lock is held: no other run is writing them)."""
        sa = needs("sqlalchemy", "sql")
        if os.path.exists(final_path):
            marker = _read_marker(final_path)
            swap(engine, marker["staged"], marker["table"])
        prefix = _stage_prefix(table)
        for name in sa.inspect(engine).get_table_names():
            if name.startswith(prefix):
                with engine.connect().execution_options(d6tflow_write=True) as conn, conn.begin():
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_quoted(engine, name)}")

    def load(self, path: str, **kwargs: Any) -> Any:
        import pandas as pd

        marker = _read_marker(path)
        engine = engine_for(self.database(path))
        # A task reading back its own output before it commits reads the staged table.
        committed = not os.path.basename(path).startswith(".tmp-")
        if committed:
            swap(engine, marker["staged"], marker["table"])
        name = marker["table"] if committed else marker["staged"]
        try:
            df = pd.read_sql_table(name, engine, **kwargs)
        except ValueError as e:
            raise OutputError(
                f"{path} names table {name!r}, which is not in {self.database(path)}: it was "
                "dropped outside d6tflow. Run the task again (task.invalidate(), then d6tflow.run)."
            ) from e
        return _restored(df, marker)

    def discard(self, path: str) -> None:
        try:
            marker = _read_marker(path)
        except (OSError, ValueError):
            return
        engine = engine_for(self.database(path))
        with engine.connect().execution_options(d6tflow_write=True) as conn, conn.begin():
            for name in (marker["staged"], marker["table"]):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_quoted(engine, name)}")


def _restored(df: Any, marker: dict) -> Any:
    """The DataFrame as saved: SQL has no category, bool or datetime types everywhere, so each
    column gets its recorded dtype back, and the index its levels and names."""
    import pandas as pd

    wanted = dict(marker["dtypes"])
    if marker["index"]:
        wanted.update(zip(marker["index"], marker["index_dtypes"], strict=True))
    for column, dtype in wanted.items():
        if column in df.columns and str(df[column].dtype) != dtype:
            try:
                df[column] = df[column].astype(dtype)
            except (TypeError, ValueError):
                df[column] = pd.to_datetime(
                    df[column], format="ISO8601", utc="UTC" in dtype
                ).astype(dtype)
    if marker["index"]:
        df = df.set_index(marker["index"])
        df.index.names = marker["index_names"]
    return df
