"""Parameter types: parse, normalize, serialize.

Serialization matches luigi's (which the original d6tflow used) character for character, because the
serialized values decide the task id and therefore the output file names: an existing data folder is
only found again if they agree.
"""

from __future__ import annotations

import datetime
import enum
import itertools
import json
import numbers
import operator
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from d6tflow.errors import ParameterError
from d6tflow.protocol import is_task_class, task_class_by_name

__all__ = [
    "BoolParameter",
    "ChoiceParameter",
    "DateHourParameter",
    "DateInterval",
    "DateIntervalParameter",
    "DateMinuteParameter",
    "DateParameter",
    "DateSecondParameter",
    "DictParameter",
    "EnumParameter",
    "FloatParameter",
    "FrozenOrderedDict",
    "IntParameter",
    "ListParameter",
    "MonthParameter",
    "NumericalParameter",
    "OptionalParameter",
    "Parameter",
    "ParameterVisibility",
    "TaskParameter",
    "TimeDeltaParameter",
    "TupleParameter",
    "YearParameter",
]


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE: Any = _NoValue()
_declaration_order = itertools.count()


class ParameterVisibility(enum.IntEnum):
    """luigi's visibility levels; only PUBLIC parameters count in the task id."""

    PUBLIC = 0
    HIDDEN = 1
    PRIVATE = 2


class Parameter:
    """A task parameter: declared as a class attribute, read as ``self.<name>`` on instances.

    >>> class Train(d6tflow.tasks.TaskPickle):
    ...     model = d6tflow.Parameter(default="ols")
    ...     seed = d6tflow.IntParameter(default=0, significant=False)

    A parameter without a default is required. ``significant=False`` keeps it out of the task id,
    so changing it neither renames the output nor reruns the task.
    """

    #: How None goes into a task id: as luigi's ``serialize(None)`` wrote it, so the original's
    #: ids (and output names) stay the same (``str(None)`` here, ``""`` for OptionalParameter,
    #: JSON's ``null`` for list, tuple and dict parameters).
    none_text: ClassVar[str] = "None"

    def __init__(
        self,
        default: Any = NO_VALUE,
        significant: bool = True,
        description: str | None = None,
        positional: bool = True,
        visibility: ParameterVisibility = ParameterVisibility.PUBLIC,
        **_luigi_only: Any,  # is_global, config_path, always_in_help, batch_method: no meaning here
    ):
        self._default = default
        self.significant = significant
        self.description = description
        self.positional = positional
        self.visibility = ParameterVisibility(visibility)
        self._counter = next(_declaration_order)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.owner = owner.__name__

    def __repr__(self) -> str:
        return f"{type(self).__name__}(default={self._default!r})"

    @property
    def has_default(self) -> bool:
        return self._default is not NO_VALUE

    @property
    def default(self) -> Any:
        return self._default

    def has_task_value(self, task_name: str = "", param_name: str = "") -> bool:
        return self.has_default

    def task_value(self, task_name: str = "", param_name: str = "") -> Any:
        return self.normalize(self._default) if self.has_default else NO_VALUE

    # The three conversions; subclasses override the ones that differ.
    def parse(self, x: str) -> Any:
        """Convert a string (e.g. from a config or command line) to a value."""
        return x

    def serialize(self, x: Any) -> str:
        """The string that goes into the task id; ``parse(serialize(x)) == x``."""
        return str(x)

    def normalize(self, x: Any) -> Any:
        """Check a value and return its canonical, hashable form; ParameterError if bad."""
        return x

    def _check_type(self, x: Any, types: type | tuple[type, ...], what: str) -> Any:
        if isinstance(x, str) and not (isinstance(types, type) and issubclass(types, str)):
            try:
                return self.parse(x)
            except (ValueError, TypeError, KeyError) as e:
                raise ParameterError(f"cannot read {x!r} as {what}: {e}") from None
        if isinstance(x, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise ParameterError(f"expected {what}, got the bool {x!r}")
        if not isinstance(x, types):
            raise ParameterError(f"expected {what}, got {type(x).__name__} {x!r}")
        return x


class OptionalParameter(Parameter):
    """A parameter whose value may be None (serialized as the empty string)."""

    none_text = ""

    def serialize(self, x: Any) -> str:
        return "" if x is None else str(x)

    def parse(self, x: str) -> Any:
        return x or None


class IntParameter(Parameter):
    def parse(self, x: str) -> int:
        return int(x)

    def normalize(self, x: Any) -> Any:
        if type(x) is int:  # the common case, without the cost of an ABC check
            return x
        return self._check_type(x, numbers.Integral, "an integer")


class FloatParameter(Parameter):
    def parse(self, x: str) -> float:
        return float(x)

    def normalize(self, x: Any) -> Any:
        # Ints stay ints: the original serialized 1 as "1" and 1.0 as "1.0" (different task ids).
        if type(x) is float or type(x) is int:
            return x
        return self._check_type(x, numbers.Real, "a number")


class BoolParameter(Parameter):
    def __init__(self, *args: Any, parsing: Any = None, **kwargs: Any):
        kwargs.setdefault("default", False)  # luigi's BoolParameter defaults to False
        super().__init__(*args, **kwargs)

    def parse(self, x: Any) -> bool:
        s = str(x).lower()
        if s in ("true", "false"):
            return s == "true"
        raise ParameterError(f"cannot interpret {x!r} as a boolean (use True or False)")

    def normalize(self, x: Any) -> bool | None:
        if type(x) is bool:
            return x
        try:
            return self.parse(x)
        except ValueError:
            # The original (luigi) took such a value as None, silently; code that ran with it
            # keeps running, but it should know.
            where = f"{getattr(self, 'owner', '?')}.{getattr(self, 'name', '?')}"
            warnings.warn(
                f"{where}: BoolParameter got {x!r}, which is not True or False; it is taken as "
                "None, as the original d6tflow did. Use d6tflow.Parameter for other values.",
                UserWarning,
                stacklevel=2,
            )
            return None


class _DateParameter(Parameter):
    date_format = "%Y-%m-%d"
    kind: type = datetime.date

    def parse(self, x: str) -> Any:
        value = datetime.datetime.strptime(x, self.date_format)
        return value.date() if self.kind is datetime.date else value

    def serialize(self, x: Any) -> str:
        return "None" if x is None else x.strftime(self.date_format)

    def normalize(self, x: Any) -> Any:
        if x is None:
            return None
        x = self._check_type(x, (datetime.date,), f"a date like {self.date_format!r}")
        if self.kind is datetime.date and isinstance(x, datetime.datetime):
            x = x.date()
        elif self.kind is datetime.datetime and not isinstance(x, datetime.datetime):
            x = datetime.datetime(x.year, x.month, x.day)
        return self._truncate(x)

    def _truncate(self, x: Any) -> Any:
        return x


class DateParameter(_DateParameter):
    """A date, serialized ``YYYY-MM-DD``."""


class MonthParameter(_DateParameter):
    """The first day of a month, serialized ``YYYY-MM``."""

    date_format = "%Y-%m"

    def _truncate(self, x: datetime.date) -> datetime.date:
        return x.replace(day=1)


class YearParameter(_DateParameter):
    """The first day of a year, serialized ``YYYY``."""

    date_format = "%Y"

    def _truncate(self, x: datetime.date) -> datetime.date:
        return x.replace(month=1, day=1)


class DateHourParameter(_DateParameter):
    date_format = "%Y-%m-%dT%H"
    kind = datetime.datetime

    def _truncate(self, x: datetime.datetime) -> datetime.datetime:
        return x.replace(minute=0, second=0, microsecond=0)


class DateMinuteParameter(_DateParameter):
    date_format = "%Y-%m-%dT%H%M"
    kind = datetime.datetime

    def _truncate(self, x: datetime.datetime) -> datetime.datetime:
        return x.replace(second=0, microsecond=0)


class DateSecondParameter(_DateParameter):
    date_format = "%Y-%m-%dT%H%M%S"
    kind = datetime.datetime

    def _truncate(self, x: datetime.datetime) -> datetime.datetime:
        return x.replace(microsecond=0)


class DateInterval:
    """A half-open range of dates ``[date_a, date_b)`` written as luigi writes it:
    ``2020-01-02`` (a day), ``2020-W03`` (ISO week), ``2020-01`` (month), ``2020`` (year) or
    ``2020-01-01-2020-02-15`` (custom)."""

    def __init__(self, date_a: datetime.date, date_b: datetime.date, text: str):
        self.date_a, self.date_b, self._text = date_a, date_b, text

    @classmethod
    def parse(cls, s: str) -> DateInterval:
        date = datetime.date
        if m := re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)-(\d{4})-(\d\d)-(\d\d)", s):
            y1, m1, d1, y2, m2, d2 = map(int, m.groups())
            return cls(date(y1, m1, d1), date(y2, m2, d2), s)
        if m := re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)", s):
            start = date(*map(int, m.groups()))
            return cls(start, start + datetime.timedelta(days=1), s)
        if m := re.fullmatch(r"(\d{4})-W(\d\d)", s):
            start = date.fromisocalendar(int(m[1]), int(m[2]), 1)
            return cls(start, start + datetime.timedelta(weeks=1), s)
        if m := re.fullmatch(r"(\d{4})-(\d\d)", s):
            y, mo = int(m[1]), int(m[2])
            return cls(date(y, mo, 1), date(y + mo // 12, mo % 12 + 1, 1), s)
        if m := re.fullmatch(r"(\d{4})", s):
            return cls(date(int(s), 1, 1), date(int(s) + 1, 1, 1), s)
        raise ParameterError(
            f"{s!r} is not a date interval (e.g. 2020-01-02, 2020-W03, 2020-01, 2020)"
        )

    def dates(self) -> list[datetime.date]:
        days = (self.date_b - self.date_a).days
        return [self.date_a + datetime.timedelta(days=i) for i in range(days)]

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"DateInterval({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DateInterval) and (self.date_a, self.date_b) == (
            other.date_a,
            other.date_b,
        )

    def __hash__(self) -> int:
        return hash((self.date_a, self.date_b))


class DateIntervalParameter(Parameter):
    def parse(self, x: str) -> DateInterval:
        return DateInterval.parse(x)

    def normalize(self, x: Any) -> Any:
        return self._check_type(x, DateInterval, "a date interval")


class TimeDeltaParameter(Parameter):
    """A ``datetime.timedelta``; strings like ``"1 w 2 d 3 h"`` or ISO 8601 ``"P1DT2H"`` parse."""

    _units = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}

    def parse(self, x: str) -> datetime.timedelta:
        iso = re.fullmatch(
            r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", x.strip()
        )
        if iso and any(iso.groups()):
            w, d, h, m, s = (int(g or 0) for g in iso.groups())
            return datetime.timedelta(weeks=w, days=d, hours=h, minutes=m, seconds=s)
        parts = re.findall(r"(\d+)\s*([wdhms])[a-z]*", x.strip().lower())
        if not parts or re.sub(r"(\d+)\s*([wdhms])[a-z]*|\s", "", x.lower()):
            raise ParameterError(f"{x!r} is not a time delta (e.g. '1 w 2 d' or 'P1DT2H')")
        return datetime.timedelta(**{self._units[u]: int(n) for n, u in parts})

    def serialize(self, x: datetime.timedelta) -> str:
        weeks, days = divmod(x.days, 7)
        hours, rest = divmod(x.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{weeks} w {days} d {hours} h {minutes} m {seconds} s"

    def normalize(self, x: Any) -> Any:
        return self._check_type(x, datetime.timedelta, "a time delta")


class FrozenOrderedDict(Mapping):
    """An immutable, hashable dict: how dict-valued parameters are kept so tasks can be hashed."""

    __slots__ = ("_dict", "_hash")

    def __init__(self, *args: Any, **kwargs: Any):
        self._dict = dict(*args, **kwargs)
        self._hash: int | None = None

    def __getitem__(self, key: Any) -> Any:
        return self._dict[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __repr__(self) -> str:
        return f"FrozenOrderedDict({self._dict!r})"

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._dict.items()))
        return self._hash

    def get_wrapped(self) -> dict:
        return self._dict


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return FrozenOrderedDict((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, FrozenOrderedDict):
        return value.get_wrapped()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _to_json(value: Any) -> str:
    return json.dumps(value, default=_thaw)


class DictParameter(Parameter):
    """A dict, kept frozen (hashable, read-only); serialized as JSON in insertion order."""

    none_text = "null"

    def parse(self, x: str) -> Any:
        return _freeze(json.loads(x, object_pairs_hook=FrozenOrderedDict))

    def serialize(self, x: Any) -> str:
        return _to_json(x)

    def normalize(self, x: Any) -> Any:
        return _freeze(self._check_type(x, Mapping, "a dict"))


class ListParameter(Parameter):
    """A list, kept as a tuple so it is hashable; serialized as a JSON list."""

    none_text = "null"

    def parse(self, x: str) -> Any:
        return _freeze(json.loads(x, object_pairs_hook=FrozenOrderedDict))

    def serialize(self, x: Any) -> str:
        return _to_json(x)

    def normalize(self, x: Any) -> Any:
        return _freeze(self._check_type(x, (list, tuple), "a list"))


class TupleParameter(ListParameter):
    """A tuple (of tuples); serialized as a JSON list like ListParameter."""


class EnumParameter(Parameter):
    """A member of ``enum``; serialized by its name."""

    def __init__(self, *args: Any, enum: type[enum.Enum] | None = None, **kwargs: Any):
        if enum is None:
            raise ParameterError("EnumParameter needs enum=<your Enum class>")
        self._enum = enum
        super().__init__(*args, **kwargs)

    def parse(self, x: str) -> enum.Enum:
        try:
            return self._enum[x]
        except KeyError:
            names = ", ".join(self._enum.__members__)
            raise ParameterError(
                f"{x!r} is not a member of {self._enum.__name__} ({names})"
            ) from None

    def serialize(self, x: enum.Enum) -> str:
        return x.name

    def normalize(self, x: Any) -> Any:
        return self._check_type(x, self._enum, f"a member of {self._enum.__name__}")


class ChoiceParameter(Parameter):
    """One of ``choices`` (converted with ``var_type``, default str)."""

    def __init__(self, *args: Any, choices: Any = None, var_type: type = str, **kwargs: Any):
        if choices is None:
            raise ParameterError("ChoiceParameter needs choices=[...]")
        self._choices = {var_type(c) for c in choices}
        self._var_type = var_type
        super().__init__(*args, **kwargs)

    @property
    def choices(self) -> frozenset:
        """The allowed values, converted with ``var_type``."""
        return frozenset(self._choices)

    @property
    def var_type(self) -> type:
        return self._var_type

    def parse(self, x: str) -> Any:
        return self.normalize(self._var_type(x))

    def normalize(self, x: Any) -> Any:
        if isinstance(x, str) and self._var_type is not str:
            x = self._var_type(x)
        if x not in self._choices:
            allowed = ", ".join(sorted(repr(c) for c in self._choices))
            raise ParameterError(f"{x!r} is not one of the allowed choices: {allowed}")
        return x


class NumericalParameter(Parameter):
    """A number of ``var_type`` with ``left_op(min_value, x)`` and ``right_op(x, max_value)``."""

    def __init__(
        self,
        *args: Any,
        min_value: Any = None,
        max_value: Any = None,
        var_type: type = float,
        left_op: Callable[[Any, Any], bool] = operator.le,
        right_op: Callable[[Any, Any], bool] = operator.lt,
        **kwargs: Any,
    ):
        if min_value is None or max_value is None:
            raise ParameterError("NumericalParameter needs min_value= and max_value=")
        self._min, self._max, self._var_type = min_value, max_value, var_type
        self._left_op, self._right_op = left_op, right_op
        super().__init__(*args, **kwargs)

    @property
    def min_value(self) -> Any:
        return self._min

    @property
    def max_value(self) -> Any:
        return self._max

    @property
    def var_type(self) -> type:
        return self._var_type

    def parse(self, x: str) -> Any:
        return self.normalize(self._var_type(x))

    def normalize(self, x: Any) -> Any:
        if isinstance(x, str):
            x = self._var_type(x)
        if not isinstance(x, numbers.Real) or isinstance(x, bool):
            raise ParameterError(f"expected a number, got {type(x).__name__} {x!r}")
        if not (self._left_op(self._min, x) and self._right_op(x, self._max)):
            raise ParameterError(f"{x!r} is outside the allowed range {self._min}..{self._max}")
        return x


class TaskParameter(Parameter):
    """A task class; serialized by its name."""

    def parse(self, x: str) -> type:
        return task_class_by_name(x)

    def serialize(self, x: type) -> str:
        return x.get_task_family()

    def normalize(self, x: Any) -> Any:
        if isinstance(x, str):
            return self.parse(x)
        if not is_task_class(x):
            raise ParameterError(f"expected a task class, got {x!r}")
        return x


def _is_luigi_parameter(value: Any) -> bool:
    """True for an instance of luigi's ``Parameter`` (or a subclass), found by duck typing: the
    class named ``Parameter`` in the module ``luigi.parameter`` is in its MRO. luigi itself is
    never imported here."""
    return any(
        klass.__name__ == "Parameter" and klass.__module__ == "luigi.parameter"
        for klass in type(value).__mro__
    )


class LuigiParameter(Parameter):
    """A luigi parameter object declared on a d6tflow task (``n = luigi.IntParameter()``, as the
    original's docs, its FlowExport stubs and much user code wrote), adopted as a d6tflow
    parameter: luigi's own ``parse``, ``serialize`` and ``normalize`` decide the values and the
    task id, so both are what the original gave. d6tflow does not depend on luigi; this runs only
    where the user's code imported it."""

    def __init__(self, foreign: Any):
        default = foreign._default
        if type(default).__name__ == "_NoValueType":  # luigi's "no default" sentinel
            default = NO_VALUE
        super().__init__(
            default=default,
            significant=getattr(foreign, "significant", True),
            description=getattr(foreign, "description", None),
            positional=getattr(foreign, "positional", True),
            visibility=int(getattr(foreign, "visibility", ParameterVisibility.PUBLIC)),
        )
        self.foreign = foreign
        try:  # how the original wrote None into the id: luigi's serialize(None)
            self.none_text = foreign.serialize(None)
        except Exception:  # luigi parameters whose serialize cannot take None
            self.none_text = "None"

    def __repr__(self) -> str:
        return f"LuigiParameter({type(self.foreign).__name__}, default={self._default!r})"

    def parse(self, x: str) -> Any:
        return self.foreign.parse(x)

    def serialize(self, x: Any) -> str:
        return self.foreign.serialize(x)

    def normalize(self, x: Any) -> Any:
        try:
            return self.foreign.normalize(x)
        except (ValueError, TypeError) as e:
            raise ParameterError(f"cannot read {x!r} as {type(self.foreign).__name__}: {e}") from e


def adopted(value: Any) -> Any:
    """``value`` as a d6tflow parameter if it is a luigi one; otherwise ``value`` unchanged."""
    if isinstance(value, Parameter) or not hasattr(value, "serialize"):
        return value
    return LuigiParameter(value) if _is_luigi_parameter(value) else value
