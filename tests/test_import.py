"""Importing d6tflow is quiet and light: nothing printed, no heavy library, no network."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import d6tflow
heavy = sorted(m for m in ("pandas", "pyarrow", "luigi", "socket", "urllib.request", "requests")
               if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


def test_import_prints_nothing_and_loads_no_heavy_or_network_module():
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == "HEAVY:\n"


def test_public_names_of_the_original_are_exported():
    import d6tflow

    names = """set_dir preview show run taskflow_upstream taskflow_downstream invalidate_upstream
    invalidate_downstream invalidate_all invalidate_orphans clone_parent inherits requires
    dict_inherits dict_requires data Parameter DateParameter MonthParameter YearParameter
    DateHourParameter DateMinuteParameter DateSecondParameter DateIntervalParameter
    TimeDeltaParameter IntParameter FloatParameter BoolParameter TaskParameter EnumParameter
    DictParameter ListParameter TupleParameter NumericalParameter ChoiceParameter
    OptionalParameter""".split()
    assert [n for n in names if not hasattr(d6tflow, n)] == []
    flavours = """TaskData TaskCache TaskCachePandas TaskJson TaskPickle TaskCSVPandas
    TaskCSVGZPandas TaskExcelPandas TaskPqPandas TaskAggregator""".split()
    assert [n for n in flavours if not hasattr(d6tflow.tasks, n)] == []
    targets = """CacheTarget PdCacheTarget DataTarget CSVPandasTarget CSVGZPandasTarget
    ExcelPandasTarget PqPandasTarget JsonTarget PickleTarget""".split()
    assert [n for n in targets if not hasattr(d6tflow.targets, n)] == []
    assert set(d6tflow.__all__) <= set(dir(d6tflow))
