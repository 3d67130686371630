"""Kubernetes resource quantities for metric targets (the HPA reads `1500m` as 1.5)."""

from __future__ import annotations

from decimal import Decimal


def quantity(value: float) -> str:
    """2.0 -> "2", 0.05 -> "50m", 1.5 -> "1500m". Milli precision is what the HPA compares at."""
    d = Decimal(str(value))
    if d == d.to_integral_value():
        return str(int(d))
    milli = d * 1000
    if milli != milli.to_integral_value():
        raise ValueError(f"{value} needs more than milli precision; Kubernetes quantities would round it")
    return f"{int(milli)}m"


def parse_quantity(text: str) -> float:
    """Inverse of quantity() for the suffixes the metrics APIs return (m, k, M, G, plain)."""
    suffixes = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}
    text = text.strip()
    if text and text[-1] in suffixes:
        return float(text[:-1]) * suffixes[text[-1]]
    return float(text)
