"""Numbers that may be NaN: into strict JSON and back, and into text.

A score is NaN when the official rule makes it 0/0 (a class absent from both labels and
predictions). JSON has no NaN, so `strict_json` writes it as null and `nan_from_null` reads such
nulls back as NaN; `fmt` prints it as "n/a". A report rebuilt from saved runs then says exactly
what the fresh one said.
"""
import math


def strict_json(obj):
    """`obj` with every NaN or infinity replaced by None, so the JSON is standard (null)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def nan_from_null(obj):
    """`obj` with every None read back as NaN: for the purely numeric parts of a record."""
    if obj is None:
        return math.nan
    if isinstance(obj, dict):
        return {k: nan_from_null(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [nan_from_null(v) for v in obj]
    return obj


def is_nan(x):
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt(x, spec=".4f"):
    """`x` formatted by `spec` (".4f", "+.4f", ".1%"...), or "n/a" for NaN or None."""
    return "n/a" if is_nan(x) else format(x, spec)
