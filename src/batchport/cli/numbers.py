"""Argument types for numeric options: a value out of range is a usage error (exit 2)
naming the rule, before anything is read, recorded or sent.

``float("nan")`` and ``float("inf")`` parse as numbers; none of these types takes them
(a NaN compares false with every bound, so a NaN limit would silently switch it off).
"""

from __future__ import annotations

import argparse
import math

__all__ = ["count", "money", "port", "seconds", "some_seconds"]


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def count(text: str) -> int:
    """A whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small: it must be 1 or more")
    return value


def seconds(text: str) -> float:
    """Seconds, 0 or more."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} seconds: it must be 0 or more")
    return value


def some_seconds(text: str) -> float:
    """Seconds, more than 0 (a wait between two calls: 0 would call without pause)."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} seconds: it must be more than 0")
    return value


def money(text: str) -> float:
    """An amount in USD, 0 or more."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} USD: it must be 0 or more")
    return value


def port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port: 0 (any free one) to 65535")
    return value
