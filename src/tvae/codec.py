"""JSON-safe encoding of the cell values and labels a fitted model must remember.

Column labels and category values can be ints, floats (NaN included), bools, strings, None,
timestamps, dates, times, decimals, bytes, periods, intervals (``pandas.cut``'s bands) or tuples
of these (a column label from ``DataFrame.columns.to_flat_index()``); JSON
alone would lose the difference between ``1``, ``1.0``, ``True`` and ``"1"``.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import math
from typing import Any

import numpy as np
import pandas as pd


def encode_value(value: Any) -> Any:
    """Turn a scalar into JSON-ready data that :func:`decode_value` restores exactly."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA:
        return {"t": "null"}
    if value is pd.NaT:
        return {"t": "nat"}
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return {"t": "float", "v": repr(value)}
        return {"t": "float", "v": value}
    if isinstance(value, str):
        return value
    if isinstance(value, pd.Timestamp):
        return {"t": "timestamp", "v": value.isoformat()}
    if isinstance(value, pd.Timedelta):
        return {"t": "timedelta", "v": int(value.value)}
    # Plain Python dates and decimals (object columns read from databases, Arrow, Excel).
    if isinstance(value, datetime.datetime):
        return {"t": "pydatetime", "v": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"t": "date", "v": value.isoformat()}
    if isinstance(value, datetime.time):
        return {"t": "time", "v": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"t": "decimal", "v": str(value)}
    if isinstance(value, bytes):
        return {"t": "bytes", "v": base64.b64encode(value).decode("ascii")}
    if isinstance(value, pd.Period):
        return {"t": "period", "v": str(value), "freq": value.freqstr}
    if isinstance(value, pd.Interval):
        ends = [encode_value(value.left), encode_value(value.right)]
        return {"t": "interval", "v": ends, "closed": value.closed}
    if isinstance(value, tuple):
        return {"t": "tuple", "v": [encode_value(item) for item in value]}
    raise TypeError(
        f"cannot store a value of type {type(value).__name__} in a model file: {value!r}"
    )


def decode_value(data: Any) -> Any:
    """Inverse of :func:`encode_value`."""
    if isinstance(data, dict):
        tag = data.get("t")
        if tag == "null":
            return None
        if tag == "nat":
            return pd.NaT
        if tag == "float":
            return float(data["v"])
        if tag == "timestamp":
            return pd.Timestamp(data["v"])
        if tag == "timedelta":
            return pd.Timedelta(int(data["v"]))
        if tag == "pydatetime":
            return datetime.datetime.fromisoformat(data["v"])
        if tag == "date":
            return datetime.date.fromisoformat(data["v"])
        if tag == "time":
            return datetime.time.fromisoformat(data["v"])
        if tag == "decimal":
            return decimal.Decimal(data["v"])
        if tag == "bytes":
            return base64.b64decode(data["v"])
        if tag == "period":
            return pd.Period(data["v"], freq=data["freq"])
        if tag == "interval":
            left, right = (decode_value(end) for end in data["v"])
            return pd.Interval(left, right, closed=data["closed"])
        if tag == "tuple":
            return tuple(decode_value(item) for item in data["v"])
        raise ValueError(f"unknown value tag {tag!r} in model file")
    return data


def encode_values(values: Any) -> list:
    return [encode_value(v) for v in values]


def decode_values(data: list) -> list:
    return [decode_value(v) for v in data]
