"""A datetime column: naive or timezone-aware ``datetime64``, periods, or date strings.

Times become float seconds since the epoch (UTC for timezone-aware columns) and are modelled as
a :class:`NumericalColumn` (so missing NaT cells get the missing flag, and values are clipped to
the real range). Generated times are rounded to the coarsest step all but 1 % of the real
values sit on (a day, an hour, a minute, a second, ...; see :mod:`tvae.transformer.granularity`),
then restored to the input's dtype, unit and time zone, or formatted back with the strings' own
format. A period column (``period[M]``, ``period[Q-DEC]``) is modelled by each period's start
and sampled as the period holding the generated time. Sub-microsecond detail is not kept (float
seconds hold about 0.1 microsecond at present-day dates).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pandas.api.types import is_datetime64_any_dtype

from tvae.errors import InvalidDataError
from tvae.kinds import parse_date_strings
from tvae.transformer.columns import Draws
from tvae.transformer.dtypes import DtypeInfo
from tvae.transformer.granularity import NS, grid_range_ns, observed_step_ns
from tvae.transformer.missing import decode_marker, encode_marker, missing_marker, put_missing
from tvae.transformer.numerical import NumericalColumn


def to_naive_utc(series: pd.Series, string_format: str | None) -> tuple[pd.Series, str | None]:
    """Parse the column to naive datetimes (UTC wall time if it had a zone) and its zone."""
    if string_format is not None:
        present = series[series.notna()].astype(str)
        parsed = pd.to_datetime(present, format=string_format).reindex(series.index)
        return parsed.rename(series.name), None
    if isinstance(series.dtype, pd.PeriodDtype):
        return series.dt.start_time, None
    if not is_datetime64_any_dtype(series.dtype):  # a condition's periods come as objects
        starts = lambda v: v.start_time if isinstance(v, pd.Period) else v  # noqa: E731
        try:
            series = pd.to_datetime(series.map(starts) if series.dtype == object else series)
        except ValueError as error:  # Python datetimes of several time zones
            raise InvalidDataError(
                f"column {series.name!r} holds times that do not convert to one time line "
                f"({error}); convert it first, e.g. pd.to_datetime(df[{series.name!r}], utc=True)"
            ) from error
    elif arrow_dates(series):  # date32 / date64: no time zone to ask for
        series = series.astype("datetime64[ms]")
    zone = getattr(series.dt, "tz", None)
    if zone is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series, None if zone is None else str(zone)


def to_nanoseconds(naive: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """int64 nanoseconds since the epoch (N,) and the NaT mask (N,)."""
    values = naive.to_numpy()
    check_nanosecond_range(values, naive.name)
    stamps = values.astype("datetime64[ns]")
    return stamps.view(np.int64), np.isnat(stamps)


def check_nanosecond_range(values: np.ndarray, name: Any) -> None:
    """Raise for times that int64 nanoseconds since 1970 cannot hold: numpy would wrap them
    around silently (years 1500-1798 were sampled as 1713-2212)."""
    if values.dtype.kind != "M" or np.datetime_data(values.dtype)[0] == "ns":
        return
    present = values[~np.isnat(values)]
    first, last = NS_RANGE
    if len(present) and (present.min() < first or present.max() > last):
        raise InvalidDataError(
            f"column {name!r} holds times from {_day(present.min())} to {_day(present.max())}; "
            "tvae models "
            f"times from {first} to {last} (nanoseconds since 1970): give these as numbers "
            "(e.g. the year) or declare the column 'categorical'"
        )


NS_RANGE = (np.datetime64("1677-09-22"), np.datetime64("2262-04-11"))  # whole days it holds


def _day(stamp: np.datetime64) -> str:
    return str(np.datetime_as_string(stamp, unit="D"))


@dataclass
class DatetimeColumn:
    """Times as a numerical column of epoch seconds, restored to the input's type."""

    name: Any
    dtype: DtypeInfo
    numbers: NumericalColumn
    step_ns: int = 1
    zone: str | None = None
    string_format: str | None = None
    marker: Any = None  # the missing value of string columns (None or NaN)
    low_ns: int = 0  # the real range, exactly
    high_ns: int = 0
    python_type: str | None = None  # "date" / "datetime" for object columns of Python objects
    kind: ClassVar[str] = "datetime"

    @classmethod
    def fit(
        cls,
        name: Any,
        dtype: DtypeInfo,
        series: pd.Series,
        sample: pd.Series,
        seed: int,
        **options: Any,
    ) -> DatetimeColumn:
        string_format = date_format(series)
        if string_format is None and not (
            is_datetime64_any_dtype(series.dtype) or _periods(series) or python_dates(series)
        ):
            raise InvalidDataError(
                f"column {name!r} is declared datetime but its values are not dates in one "
                "format; convert it with pd.to_datetime or declare it 'categorical'"
            )
        naive, zone = to_naive_utc(series, string_format)
        ns, nat = to_nanoseconds(naive)
        step = observed_step_ns(ns[~nat])
        seconds = np.where(nat, np.nan, ns / NS)
        sample_seconds = seconds if sample is series else cls._seconds(sample, string_format)
        numbers = NumericalColumn.fit(
            name, DtypeInfo("float64"), seconds, sample_seconds, seed, grid_step=step / NS,
            **options,
        )  # fmt: skip
        low, high = (int(ns[~nat].min()), int(ns[~nat].max())) if (~nat).any() else (0, 0)
        python_type = None
        if python_dates(series):
            kinds = {type(v) for v in series.dropna()}
            python_type = "datetime" if any(issubclass(k, datetime) for k in kinds) else "date"
        return cls(
            name, dtype, numbers, int(step), zone, string_format, missing_marker(series), low, high,
            python_type,
        )  # fmt: skip

    @property
    def grid_range_ns(self) -> tuple[np.datetime64, np.datetime64]:
        """The real range's ends moved inward onto the step, where one is a rare time finer than
        the step (see :mod:`tvae.transformer.granularity`), so clipped times stay on it."""
        low, high = grid_range_ns(self.low_ns, self.high_ns, self.step_ns)
        return np.datetime64(low, "ns"), np.datetime64(high, "ns")

    @staticmethod
    def _seconds(series: pd.Series, string_format: str | None) -> np.ndarray:
        ns, nat = to_nanoseconds(to_naive_utc(series, string_format)[0])
        return np.where(nat, np.nan, ns / NS)

    @property
    def spans(self) -> list[tuple]:
        return self.numbers.spans

    def transform(
        self, values: pd.Series, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.numbers.transform_numbers(self._seconds(values, self.string_format), rng)

    def inverse(
        self, alphas: np.ndarray, codes: np.ndarray, draws: Draws | None = None
    ) -> pd.Series:
        return self.restore_seconds(self.numbers.inverse_numbers(alphas, codes))

    def restore_seconds(self, seconds: np.ndarray) -> pd.Series:
        """Epoch seconds (N,) float64, NaN for missing, as the column's values: rounded to its
        step, clipped to its real range, in its dtype, zone or string format."""
        missing = np.isnan(seconds)
        ns = np.round(np.where(missing, 0.0, seconds) * NS / self.step_ns) * self.step_ns
        stamps = ns.astype(np.int64).view("datetime64[ns]")
        stamps[missing] = np.datetime64("NaT", "ns")
        # Keep the real range exactly after the float round trip: clip in integer nanoseconds.
        if self.numbers.clip:
            low, high = self.grid_range_ns
            stamps[~missing] = np.clip(stamps[~missing], low, high)
        series = pd.Series(stamps, name=self.name)
        if self.string_format is not None:
            text = series.dt.strftime(self.string_format).astype(object)
            return self.dtype.restore_labels(
                put_missing(text, missing, self.marker).to_numpy(), self.name
            )
        if self.zone is not None:
            series = series.dt.tz_localize("UTC").dt.tz_convert(self.zone)
        period = self.dtype.pandas_dtype()
        if isinstance(period, pd.PeriodDtype):  # the period holding each time
            return series.dt.to_period(period.freq)
        if self.python_type is not None:  # object column of Python dates or datetimes
            objects = series.dt.date if self.python_type == "date" else series.dt.to_pydatetime()
            values = pd.Series(np.asarray(objects, dtype=object), name=self.name, dtype=object)
            return put_missing(values, missing, self.marker)
        return series.astype(self.dtype.pandas_dtype())

    def get_state(self) -> dict:
        return {
            "numbers": self.numbers.get_state(),
            "step_ns": self.step_ns,
            "zone": self.zone,
            "string_format": self.string_format,
            "marker": encode_marker(self.marker),
            "low_ns": self.low_ns,
            "high_ns": self.high_ns,
            "python_type": self.python_type,
        }

    @classmethod
    def from_state(cls, name: Any, dtype: DtypeInfo, state: dict) -> DatetimeColumn:
        return cls(
            name=name,
            dtype=dtype,
            numbers=NumericalColumn.from_state(name, DtypeInfo("float64"), state["numbers"]),
            step_ns=int(state["step_ns"]),
            zone=state["zone"],
            string_format=state["string_format"],
            marker=decode_marker(state["marker"]),
            low_ns=int(state["low_ns"]),
            high_ns=int(state["high_ns"]),
            python_type=state.get("python_type"),
        )


def date_format(series: pd.Series) -> str | None:
    """The strftime format of a column of date strings; None for datetime64 values, Python
    dates, and strings that are not dates in one format."""
    if is_datetime64_any_dtype(series.dtype) or _periods(series) or python_dates(series):
        return None
    return parse_date_strings(series.dropna())


def arrow_dates(series: pd.Series) -> bool:
    dtype = series.dtype
    arrow = getattr(dtype, "pyarrow_dtype", None)
    return isinstance(dtype, pd.ArrowDtype) and dtype.kind == "M" and not hasattr(arrow, "unit")


def _periods(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.PeriodDtype)


def python_dates(series: pd.Series) -> bool:
    """True for an object column of Python ``date``/``datetime`` objects (gaps aside)."""
    observed = series.dropna()
    return (
        series.dtype == object
        and len(observed) > 0
        and bool(observed.map(lambda v: isinstance(v, date) and not isinstance(v, str)).all())
    )
