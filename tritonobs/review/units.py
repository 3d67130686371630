"""Grafana's unit ids and value formatting (packages/grafana-data/src/valueFormats), for previews and lint.

`format_value(unit, value, decimals)` gives the text Grafana shows for the units dashboards here use
(none, short, percent, percentunit, time, data, throughput, energy, `prefix:`/`suffix:`/custom units);
`custom_unit_problem` says when a unit string is shown in a way its author did not mean.
"""

from __future__ import annotations

import math

# The ids dashboard-linter accepts (lint/rule_panel_units.go, from Grafana's categories.ts).
VALID_UNITS = frozenset(["none", "string", "short", "percent", "percentunit", "humidity", "dB", "hex0x", "hex", "sci", "locale", "pixel", "accMS2", "accFS2", "accG", "degree", "radian", "grad", "arcmin", "arcsec", "areaM2", "areaF2", "areaMI2", "flops", "mflops", "gflops", "tflops", "pflops", "eflops", "zflops", "yflops", "ppm", "conppb", "conngm3", "conngNm3", "conμgm3", "conμgNm3", "conmgm3", "conmgNm3", "congm3", "congNm3", "conmgdL", "conmmolL", "currencyUSD", "currencyGBP", "currencyEUR", "currencyJPY", "currencyRUB", "currencyUAH", "currencyBRL", "currencyDKK", "currencyISK", "currencyNOK", "currencySEK", "currencyCZK", "currencyCHF", "currencyPLN", "currencyBTC", "currencymBTC", "currencyμBTC", "currencyZAR", "currencyINR", "currencyKRW", "currencyIDR", "currencyPHP", "currencyVND", "bytes", "decbytes", "bits", "decbits", "kbytes", "deckbytes", "mbytes", "decmbytes", "gbytes", "decgbytes", "tbytes", "dectbytes", "pbytes", "decpbytes", "pps", "binBps", "Bps", "binbps", "bps", "KiBs", "Kibits", "KBs", "Kbits", "MiBs", "Mibits", "MBs", "Mbits", "GiBs", "Gibits", "GBs", "Gbits", "TiBs", "Tibits", "TBs", "Tbits", "PiBs", "Pibits", "PBs", "Pbits", "dateTimeAsIso", "dateTimeAsIsoNoDateIfToday", "dateTimeAsUS", "dateTimeAsUSNoDateIfToday", "dateTimeAsLocal", "dateTimeAsLocalNoDateIfToday", "dateTimeAsSystem", "dateTimeFromNow", "watt", "kwatt", "megwatt", "gwatt", "mwatt", "Wm2", "voltamp", "kvoltamp", "voltampreact", "kvoltampreact", "watth", "watthperkg", "kwatth", "kwattm", "amph", "kamph", "mamph", "joule", "ev", "amp", "kamp", "mamp", "volt", "kvolt", "mvolt", "dBm", "ohm", "kohm", "Mohm", "farad", "µfarad", "nfarad", "pfarad", "ffarad", "henry", "mhenry", "µhenry", "lumens", "flowgpm", "flowcms", "flowcfs", "flowcfm", "litreh", "flowlpm", "flowmlpm", "lux", "forceNm", "forcekNm", "forceN", "forcekN", "Hs", "KHs", "MHs", "GHs", "THs", "PHs", "EHs", "massmg", "massg", "masslb", "masskg", "masst", "lengthmm", "lengthin", "lengthft", "lengthm", "lengthkm", "lengthmi", "pressurembar", "pressurebar", "pressurekbar", "pressurepa", "pressurehpa", "pressurekpa", "pressurehg", "pressurepsi", "radbq", "radci", "radgy", "radrad", "radsv", "radmsv", "radusv", "radrem", "radexpckg", "radr", "radsvh", "radmsvh", "radusvh", "rotrpm", "rothz", "rotrads", "rotdegs", "celsius", "fahrenheit", "kelvin", "hertz", "ns", "µs", "ms", "s", "m", "h", "d", "dtdurationms", "dtdurations", "dthms", "dtdhms", "timeticks", "clockms", "clocks", "cps", "ops", "reqps", "rps", "wps", "iops", "cpm", "opm", "rpm", "wpm", "mps", "mpm", "velocityms", "velocitykmh", "velocitymph", "velocityknot", "mlitre", "litre", "m3", "Nm3", "dm3", "gallons", "bool", "bool_yes_no", "bool_on_off"])
_PREFIXES = ("prefix", "suffix", "si", "count", "currency", "time", "bool")


def _js_round(x: float) -> float:
    return math.floor(x + 0.5)  # Math.round: halves go up


def _js_str(x: float) -> str:
    if x == int(x) and abs(x) < 1e21:
        return str(int(x))
    s = repr(x)
    return s if "e" not in s else s.replace("e-0", "e-").replace("e+0", "e+")


def decimals_for(value: float) -> int:
    """getDecimalsForValue: about two significant digits (three when the leading ones pass 2.25)."""
    abs_v = abs(value)
    dec = -math.floor(math.log10(abs_v)) + 1
    if abs_v / 10 ** (-dec) > 2.25:
        dec += 1
    if value % 1 == 0:
        dec = 0
    return max(0, dec)


def to_fixed(value: float, decimals: int | None = None) -> str:
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if math.isnan(value):
        return "NaN"
    if decimals is None:
        decimals = decimals_for(value) if value != 0 else 0
    if value == 0:
        return f"{0:.{decimals}f}"
    factor = 10 ** max(0, decimals) if decimals else 1
    formatted = _js_str(_js_round(value * factor) / factor)
    if "e" in formatted:
        return formatted
    precision = len(formatted) - formatted.index(".") - 1 if "." in formatted else 0
    if precision < decimals:
        return (formatted if precision else formatted + ".") + "0" * (decimals - precision)
    return formatted


def _scaled(factor: int, ext: list[str], offset: int = 0) -> tuple[int, list[str], int]:
    return factor, ext, offset


def _apply_scaled(spec: tuple[int, list[str], int], value: float, decimals: int | None) -> tuple[str, str]:
    factor, ext, offset = spec
    idx = 0 if value == 0 else math.floor(math.log(abs(value)) / math.log(factor))
    suffix = ext[min(max(offset + idx, 0), len(ext) - 1)]
    power = min(max(idx, -offset), len(ext) - offset - 1)
    return to_fixed(value / factor ** power, decimals), suffix


_SHORT = _scaled(1000, ["", " K", " Mil", " Bil", " Tri", " Quadr", " Quint", " Sext", " Sept"])
_BIN = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"]
_SI = ["f", "p", "n", "µ", "m", "", "k", "M", "G", "T", "P", "E", "Z", "Y"]


def _binary(unit: str, offset: int = 0) -> tuple[int, list[str], int]:
    return _scaled(1024, [f" {p}{unit}" for p in _BIN], offset)


def _si(unit: str, offset: int = 0) -> tuple[int, list[str], int]:
    return _scaled(1000, [f" {p}{unit}" for p in _SI], 5 + offset)


def _count(unit: str) -> tuple[int, list[str], int]:
    return _scaled(1000, ["", " K", " M", " B", " T"])  # simpleCountUnit appends the unit after


_PLURAL = {" min", " hour", " day", " week", " year"}


def _scaled_time(value: float, decimals: int | None, ext: str) -> tuple[str, str]:
    return to_fixed(value, decimals), ext + "s" if ext in _PLURAL and abs(value) > 1 else ext


def _seconds(size: float, decimals: int | None) -> tuple[str, str]:
    a = abs(size)
    if size == 0:
        return "0", " s"
    if a < 1e-6:
        return _scaled_time(size * 1e9, decimals, " ns")
    if a < 1e-3:
        return _scaled_time(size * 1e6, decimals, " µs")
    if a < 1:
        return _scaled_time(size * 1e3, decimals, " ms")
    if a < 60:
        return to_fixed(size, decimals), " s"
    for limit, div, ext in ((3600, 60, " min"), (86400, 3600, " hour"), (604800, 86400, " day"),
                            (31536000, 604800, " week")):
        if a < limit:
            return _scaled_time(size / div, decimals, ext)
    return _scaled_time(size / 3.15569e7, decimals, " year")


def _millis(size: float, decimals: int | None) -> tuple[str, str]:
    a = abs(size)
    if a < 1000:
        return to_fixed(size, decimals), " ms"
    for limit, div, ext in ((60000, 1000, " s"), (3600000, 60000, " min"), (86400000, 3600000, " hour"),
                            (31536000000, 86400000, " day")):
        if a < limit:
            return _scaled_time(size / div, decimals, ext)
    return _scaled_time(size / 31536000000, decimals, " year")


def _micros(size: float, decimals: int | None) -> tuple[str, str]:
    a = abs(size)
    if a < 1000:
        return to_fixed(size, decimals), " µs"
    if a < 1e6:
        return _scaled_time(size / 1000, decimals, " ms")
    return _scaled_time(size / 1e6, decimals, " s")


_SCALED = {
    "short": _SHORT, "bytes": _binary("B"), "kbytes": _binary("B", 1), "mbytes": _binary("B", 2),
    "gbytes": _binary("B", 3), "decbytes": _si("B"), "deckbytes": _si("B", 1), "decmbytes": _si("B", 2),
    "decgbytes": _si("B", 3), "watt": _si("W"), "kwatt": _si("W", 1), "joule": _si("J"), "hertz": _si("Hz"),
    "Bps": _si("B/s"), "binBps": _binary("B/s"), "bps": _si("b/s"), "flops": _si("FLOPS"),
}
_COUNTS = {"reqps": " req/s", "ops": " ops/s", "rps": " rd/s", "wps": " wr/s", "iops": " io/s", "cps": " c/s",
           "pps": " p/s", "cpm": " c/m", "opm": " ops/m", "rpm": " rd/m", "wpm": " wr/m"}
_FIXED = {"celsius": "°C", "fahrenheit": "°F", "kelvin": "K", "degree": "°"}


def format_parts(unit: str, value: float, decimals: int | None = None) -> tuple[str, str, str]:
    """(prefix, number, suffix) as Grafana's getValueFormat(unit)(value, decimals) returns them."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "", "No data" if value is None else "NaN", ""
    unit = unit or "none"
    if unit in ("none", "string", "", "locale"):
        return "", to_fixed(value, decimals), ""
    if unit == "percent":
        return "", to_fixed(value, decimals), "%"
    if unit == "percentunit":
        return "", to_fixed(100 * value, decimals), "%"
    if unit == "s":
        return ("", *_seconds(value, decimals))
    if unit == "ms":
        return ("", *_millis(value, decimals))
    if unit in ("µs", "us"):
        return ("", *_micros(value, decimals))
    if unit == "ns":
        return ("", *_seconds(value / 1e9, decimals)) if abs(value) >= 1000 else ("", to_fixed(value, decimals), " ns")
    if unit in _SCALED:
        return ("", *_apply_scaled(_SCALED[unit], value, decimals))
    if unit in _COUNTS:
        text, scale = _apply_scaled(_count(""), value, decimals)
        return "", text, scale + _COUNTS[unit]
    if unit in _FIXED:
        return "", to_fixed(value, decimals), " " + _FIXED[unit] if unit != "degree" else "°"
    if unit == "currencyUSD":
        text, scale = _apply_scaled(_scaled(1000, ["", "K", "M", "B", "T"]), value, decimals)
        return "$", text, scale
    key, sep, sub = unit.partition(":")
    if sep and key in _PREFIXES:
        if key == "prefix":
            return sub, to_fixed(value, decimals), ""
        if key == "count":
            text, scale = _apply_scaled(_count(sub), value, decimals)
            return "", text, f"{scale} {sub}"
        if key == "si":
            text, suffix = _apply_scaled(_si(sub), value, decimals)
            return "", text, suffix
        if key == "suffix":
            return "", to_fixed(value, decimals), " " + sub if sub else ""
    return "", to_fixed(value, decimals), " " + unit  # an unknown id is a custom suffix (toFixedUnit)


def format_value(unit: str, value: float, decimals: int | None = None) -> str:
    prefix, text, suffix = format_parts(unit, value, decimals)
    return f"{prefix}{text}{suffix}"


def custom_unit_problem(unit: str) -> str | None:
    """A unit Grafana will not show the way it reads: stray spaces, or an unknown id taken as a suffix."""
    if not unit or unit in VALID_UNITS:
        return None
    key, sep, sub = unit.partition(":")
    if sep and key in _PREFIXES:
        if sub != sub.strip():
            shown = format_value(unit, 12.5)
            return (f"unit '{unit}' has spaces around '{sub.strip()}': Grafana shows '{shown}' "
                    f"({'two spaces' if key == 'suffix' and sub.startswith(' ') else 'stray spaces'}); "
                    f"write '{key}:{sub.strip()}'")
        if not sub:
            return f"unit '{unit}' is empty after '{key}:'"
        return None
    if unit != unit.strip():
        return f"unit '{unit}' has spaces around it; write '{unit.strip()}'"
    return (f"unit '{unit}' is not a Grafana unit id: Grafana shows it as a custom suffix ('{format_value(unit, 12.5)}'); "
            f"use a unit id, or 'suffix:{unit}' to say it is meant")
