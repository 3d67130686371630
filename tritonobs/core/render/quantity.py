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
