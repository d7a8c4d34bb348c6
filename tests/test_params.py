"""Parameters: defaults, validation at construction, normalization and the serialization that
decides task ids (identical to the original's)."""

from __future__ import annotations

import datetime
import enum

import pytest

import d6tflow
from d6tflow.errors import MissingParameterError, ParameterError
from d6tflow.params import DateInterval, FrozenOrderedDict


class Color(enum.Enum):
    red = 1
    blue = 2


def make_task(**params):
    return type("TaskP", (d6tflow.tasks.TaskPickle,), params)


def test_defaults_are_read_as_attributes():
    Task = make_task(n=d6tflow.IntParameter(default=3), s=d6tflow.Parameter(default="a"))
    task = Task()
    assert (task.n, task.s) == (3, "a")
    assert Task(n=5).n == 5


def test_positional_arguments_follow_declaration_order():
    Task = make_task(a=d6tflow.IntParameter(), b=d6tflow.Parameter(default="x"))
    task = Task(1, "y")
    assert (task.a, task.b) == (1, "y")


def test_missing_required_parameter_names_task_and_parameter():
    Task = make_task(n=d6tflow.IntParameter())
    with pytest.raises(MissingParameterError, match=r"TaskP.*'n'"):
        Task()


def test_wrong_type_names_task_and_parameter():
    Task = make_task(n=d6tflow.IntParameter(default=1))
    with pytest.raises(ParameterError, match=r"TaskP: parameter 'n'.*integer"):
        Task(n="three")
    with pytest.raises(ValueError):  # ParameterError is a ValueError, as the original raised
        Task(n=[1])


def test_numeric_strings_are_parsed():
    Task = make_task(n=d6tflow.IntParameter(default=1), x=d6tflow.FloatParameter(default=0.5))
    task = Task(n="7", x="2.5")
    assert (task.n, task.x) == (7, 2.5)


def test_choice_not_allowed_lists_the_choices():
    Task = make_task(model=d6tflow.ChoiceParameter(choices=["ols", "gbm"], default="ols"))
    assert Task(model="gbm").model == "gbm"
    with pytest.raises(ParameterError, match=r"'model'.*'gbm', 'ols'"):
        Task(model="svm")


def test_numerical_parameter_range():
    Task = make_task(p=d6tflow.NumericalParameter(min_value=0, max_value=1, default=0.5))
    assert Task(p=0).p == 0
    with pytest.raises(ParameterError, match="outside the allowed range"):
        Task(p=1)


def test_choice_and_numerical_parameters_tell_their_settings():
    choice = d6tflow.ChoiceParameter(choices=["1", 2], var_type=int, default=1)
    assert choice.choices == frozenset({1, 2}) and choice.var_type is int
    number = d6tflow.NumericalParameter(min_value=0, max_value=10, var_type=int, default=1)
    assert (number.min_value, number.max_value, number.var_type) == (0, 10, int)
    with pytest.raises(AttributeError):
        number.min_value = 5  # read-only: the range is checked with the values given at creation


def test_unknown_keyword_arguments_are_dropped():
    Task = make_task(n=d6tflow.IntParameter(default=1))
    assert Task(n=2, not_a_param=1) == Task(n=2)


def test_insignificant_parameter_does_not_change_task_id():
    Task = make_task(
        n=d6tflow.IntParameter(default=1), seed=d6tflow.IntParameter(default=0, significant=False)
    )
    assert Task(seed=1).task_id == Task(seed=2).task_id
    assert Task(n=1).task_id != Task(n=2).task_id


def test_list_and_dict_values_are_frozen_and_hashable():
    Task = make_task(
        cols=d6tflow.ListParameter(default=[1, 2]), cfg=d6tflow.DictParameter(default={"a": [1]})
    )
    task = Task()
    assert task.cols == (1, 2)
    assert isinstance(task.cfg, FrozenOrderedDict)
    assert task.cfg["a"] == (1,)
    assert hash(task) == hash(Task(cols=(1, 2), cfg={"a": [1]}))
    with pytest.raises(TypeError):
        task.cfg["b"] = 2


@pytest.mark.parametrize(
    ("param", "value", "serialized"),
    [
        (d6tflow.Parameter(), "ols", "ols"),
        (d6tflow.IntParameter(), 3, "3"),
        (d6tflow.FloatParameter(), 0.5, "0.5"),
        (d6tflow.BoolParameter(), True, "True"),
        (d6tflow.DateParameter(), datetime.date(2020, 1, 2), "2020-01-02"),
        (d6tflow.MonthParameter(), datetime.date(2020, 3, 9), "2020-03"),
        (d6tflow.YearParameter(), datetime.date(2020, 3, 9), "2020"),
        (d6tflow.DateHourParameter(), datetime.datetime(2020, 1, 2, 13, 5), "2020-01-02T13"),
        (d6tflow.DateMinuteParameter(), datetime.datetime(2020, 1, 2, 13, 5), "2020-01-02T1305"),
        (
            d6tflow.DateSecondParameter(),
            datetime.datetime(2020, 1, 2, 13, 5, 7),
            "2020-01-02T130507",
        ),
        (d6tflow.TimeDeltaParameter(), datetime.timedelta(days=9, hours=1), "1 w 2 d 1 h 0 m 0 s"),
        (d6tflow.ListParameter(), [1, 2], "[1, 2]"),
        (d6tflow.TupleParameter(), ((1, 2), (3,)), "[[1, 2], [3]]"),
        (d6tflow.DictParameter(), {"k": 1}, '{"k": 1}'),
        (d6tflow.EnumParameter(enum=Color), Color.blue, "blue"),
        (d6tflow.OptionalParameter(), None, ""),
        (d6tflow.DateIntervalParameter(), "2020-W03", "2020-W03"),
    ],
)
def test_serialization_round_trips_like_the_original(param, value, serialized):
    normalized = param.normalize(value)
    assert param.serialize(normalized) == serialized
    if serialized:
        assert param.normalize(param.parse(serialized)) == normalized


def test_string_inputs_parse_for_typed_parameters():
    Task = make_task(
        d=d6tflow.DateParameter(default=datetime.date(2020, 1, 1)),
        b=d6tflow.BoolParameter(),
        td=d6tflow.TimeDeltaParameter(default=datetime.timedelta(0)),
        e=d6tflow.EnumParameter(enum=Color, default=Color.red),
    )
    task = Task(d="2021-05-06", b="true", td="P1DT2H", e="blue")
    assert task.d == datetime.date(2021, 5, 6)
    assert task.b is True
    assert task.td == datetime.timedelta(days=1, hours=2)
    assert task.e is Color.blue


def test_bad_date_strings_are_rejected():
    Task = make_task(d=d6tflow.DateParameter(default=None))
    with pytest.raises(ParameterError, match="'d'"):
        Task(d="01/02/2020")


def test_a_bool_parameter_given_another_value_warns_and_is_none_as_in_the_original():
    # The official d6tflow-template declares BoolParameter(default='rf'); luigi took it as None.
    class TaskTrain(d6tflow.tasks.TaskPickle):
        model = d6tflow.BoolParameter(default="rf")

    with pytest.warns(UserWarning, match=r"TaskTrain\.model: BoolParameter got 'rf'"):
        task = TaskTrain()
    assert task.model is None
    assert task.task_id.startswith("TaskTrain_None_")
    assert TaskTrain(model="True").model is True


def test_date_interval_covers_its_days():
    interval = DateInterval.parse("2020-02")
    assert interval.dates()[0] == datetime.date(2020, 2, 1)
    assert len(interval.dates()) == 29


def test_task_parameter_holds_a_task_class():
    class Upstream(d6tflow.tasks.TaskPickle):
        pass

    Task = make_task(upstream=d6tflow.TaskParameter(default=Upstream))
    assert Task().upstream is Upstream
    assert Task(upstream="Upstream").upstream is Upstream
    assert "Upstream" in Task().task_id


def test_parameter_added_after_class_creation_is_used():
    class Late(d6tflow.tasks.TaskPickle):
        pass

    Late.alpha = d6tflow.FloatParameter(default=0.1)
    assert Late().alpha == 0.1
    assert Late(alpha=0.2).task_id.startswith("Late_0_2_")


def test_parameter_added_to_base_class_reaches_subclasses():
    class Base(d6tflow.tasks.TaskPickle):
        pass

    class Child(Base):
        pass

    assert Child().task_id == "Child__99914b932b"
    Base.k = d6tflow.IntParameter(default=4)
    assert Child().k == 4
