"""Kubernetes resource quantities, parsed exactly.

CPU is held as integer millicores and memory as integer bytes. Parsing goes
through ``Decimal`` so ``0.1`` cores is exactly 100m (no float drift), and
fractions below the unit are rounded up the way the API server canonicalises
them (CPU to 1m, memory to 1 byte).

Formatting keeps the unit style a file already uses: a file that says
``cpu: 0.5`` gets ``0.25`` back, one that says ``512Mi`` gets ``768Mi``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, ROUND_CEILING

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))"
    r"(?P<exp>[eE][+-]?\d+)?(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
)

MI = 2**20
GI = 2**30
# Far above any node that exists, far below what overflows an int64 or a Decimal context:
# a bigger number is a typo or an attack (1e400 pinned once made every later run crash).
MAX_CPU_MILLICORES = 10**9  # a million cores
MAX_MEMORY_BYTES = 2**60  # 1 EiB
_MAX_EXPONENT = 30


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


class QuantityOutOfRange(QuantityError):
    """A well-formed quantity beyond any real node (see MAX_CPU_MILLICORES, MAX_MEMORY_BYTES)."""


def parse_decimal(text: str | int | float, resource: str | None = None) -> Decimal:
    """The exact value of a quantity in base units (cores or bytes); ``resource`` only sharpens the error."""
    if isinstance(text, bool):
        raise QuantityError(f"{text!r} is not a quantity")
    if isinstance(text, int):
        if text < 0:
            raise QuantityError(f"{text!r} is negative")
        return Decimal(text)
    if isinstance(text, float):
        if not math.isfinite(text):
            raise QuantityError(f"{text!r} is not a finite quantity")
        if text < 0:
            raise QuantityError(f"{text!r} is negative")
        # YAML gives 0.5 as a float; its shortest repr is what the user typed.
        return Decimal(repr(text))
    s = str(text).strip()
    if len(s) > 64:
        raise QuantityError(f"{s[:20]!r}… is not a Kubernetes quantity (too long)")
    m = _QUANTITY.match(s)
    if not m:
        raise QuantityError(not_a_quantity(text, resource))
    try:
        number = Decimal(m.group("num"))
    except InvalidOperation as exc:  # pragma: no cover - regex guards this
        raise QuantityError(f"{text!r} is not a Kubernetes quantity") from exc
    if number < 0:
        raise QuantityError(f"{text!r} is negative")
    if m.group("exp"):
        # Not in the API's grammar, but people write it (2e3m): read it as exponent then suffix.
        exponent = int(m.group("exp")[1:])
        if abs(exponent) > _MAX_EXPONENT:  # scaleb(999999) would overflow the Decimal context
            raise QuantityOutOfRange(f"{text!r} is out of range")
        number = number.scaleb(exponent)
    suffix = m.group("suffix") or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    return number * _DECIMAL[suffix]


# The shapes nearly every quantity has ("250m", "2", "512Mi", "64Gi"): whole numbers, exact in integers, so they
# skip Decimal (a snapshot of 20,000 containers holds ~80,000 quantities). Anything else takes the full parse.
_WHOLE = re.compile(r"(\d{1,15})(m|Ki|Mi|Gi|Ti|k|M|G|T|)\Z")
_CPU_WHOLE = {"m": 1, "": 1000, "k": 10**6}
_MEMORY_WHOLE = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, **{k: v for k, v in _BINARY.items() if k in ("Ki", "Mi", "Gi", "Ti")}}


def parse_cpu(text: str | int | float) -> int:
    """Millicores, rounded up to 1m as the API server does."""
    m = _WHOLE.match(text) if type(text) is str else None
    if m is not None and m.group(2) in _CPU_WHOLE:
        value = int(m.group(1)) * _CPU_WHOLE[m.group(2)]
        if value <= MAX_CPU_MILLICORES:
            return value
    value = parse_decimal(text, "cpu") * 1000
    if value > MAX_CPU_MILLICORES:
        raise QuantityOutOfRange(f"{_shown(text)} is out of range (at most {MAX_CPU_MILLICORES // 1000} cores)")
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def parse_memory(text: str | int | float) -> int:
    """Bytes, rounded up to a whole byte."""
    m = _WHOLE.match(text) if type(text) is str else None
    if m is not None and m.group(2) in _MEMORY_WHOLE:
        value = int(m.group(1)) * _MEMORY_WHOLE[m.group(2)]
        if value <= MAX_MEMORY_BYTES:
            return value
    value = parse_decimal(text, "memory")
    if value > MAX_MEMORY_BYTES:
        raise QuantityOutOfRange(f"{_shown(text)} is out of range (at most 1Ei)")
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def _shown(text: str | int | float) -> str:
    s = repr(text)
    return s if len(s) <= 40 else s[:37] + "…"


def parse(resource: str, text: str | int | float) -> int:
    return parse_cpu(text) if resource == "cpu" else parse_memory(text)


def suffix_of(text: str | int | float) -> str:
    """The unit suffix a quantity is written with ("" for plain numbers)."""
    m = _QUANTITY.match(str(text).strip())
    return (m.group("suffix") or "") if m else ""


# --- near misses -------------------------------------------------------------
# What people write instead of a quantity (7GB, 2gi, 512 Mi, 1.5 cores), and the quantity they mean.

_NEAR_MISS = re.compile(r"^\s*(?P<num>\+?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>[A-Za-z]*)\s*$")
_SUFFIXES = {"", *_BINARY, *_DECIMAL}
# Units other tools write with a B (7GB): Kubernetes has a decimal and a binary one (7G, 7Gi), so offer both.
# Lower-case m and e stay out: m is a valid suffix, e starts an exponent.
_MEMORY_UNITS = {
    **{u: "{n}" for u in ("b", "byte", "bytes")},
    **{f"{p}{b}": "{n}" + ("k" if p == "k" else p.upper()) + " or {n}" + p.upper() + "i"
       for p in "kmgtpe" for b in ("", "b") if f"{p}{b}" not in ("m", "e")},
    **{f"{p}i{b}": "{n}" + p.upper() + "i" for p in "kmgtpe" for b in ("", "b")},
}
_CPU_UNITS = {
    **{u: "{n}" for u in ("core", "cores", "cpu", "cpus", "vcpu", "vcpus")},
    **{u: "{n}m" for u in ("m", "mcpu", "millicore", "millicores", "millicpu", "millicpus")},
}
_EXAMPLES = {
    "cpu": "write cores (0.5) or millicores (500m)",
    "memory": "write bytes with an optional suffix: binary 512Mi, 2Gi or decimal 500M, 2G",
    None: "write a number with an optional suffix, such as 500m, 512Mi or 2Gi",
}


def suggestion(text: object, resource: str | None = None) -> str | None:
    """The quantity a near miss probably meant ("7GB" → "7G or 7Gi"), or None when there is no good guess."""
    m = _NEAR_MISS.match(str(text))
    if not m:
        return None
    number, unit = m.group("num").lstrip("+"), m.group("unit")
    if unit in _SUFFIXES:  # a right unit, apart from its number: "512 Mi"
        guess: str | None = number + unit
    else:
        tables = {"cpu": (_CPU_UNITS,), "memory": (_MEMORY_UNITS,)}.get(resource or "", (_MEMORY_UNITS, _CPU_UNITS))
        guess = next((t[unit.lower()].format(n=number) for t in tables if unit.lower() in t), None)
    return None if guess == str(text) else guess


def not_a_quantity(text: object, resource: str | None = None) -> str:
    """The one-line complaint about a value that is not a quantity, with the likely fix when there is one."""
    what = {"cpu": "CPU quantity", "memory": "memory quantity"}.get(resource or "", "Kubernetes quantity")
    guess = suggestion(text, resource)
    return f"{text!r} is not a {what}: " + (f"did you mean {guess}?" if guess else _EXAMPLES.get(resource, _EXAMPLES[None]))


# --- style -----------------------------------------------------------------

@dataclass(frozen=True)
class Style:
    """How a quantity was written, so a new value can be written the same way."""

    unit: str  # cpu: "m" or "cores"; memory: "Ki".."Ei", "k".."E" or "" (plain bytes)
    as_number: bool = False  # YAML scalar was a number (cpu: 1), not a string

    @staticmethod
    def of(resource: str, text: str | int | float | None) -> "Style":
        if text is None:
            return DEFAULT_STYLE[resource]
        as_number = isinstance(text, (int, float)) and not isinstance(text, bool)
        s = str(text).strip()
        m = _QUANTITY.match(s)
        if not m:
            return DEFAULT_STYLE[resource]
        suffix = m.group("suffix") or ""
        if resource == "cpu":
            return Style("m" if suffix == "m" else "cores", as_number)
        if suffix in _BINARY or suffix in ("k", "M", "G", "T", "P", "E"):
            return Style(suffix, as_number)
        return Style("", as_number)


DEFAULT_STYLE = {"cpu": Style("m"), "memory": Style("Mi")}


def format_cpu(millicores: int, style: Style = DEFAULT_STYLE["cpu"]) -> str | int | float:
    """Write millicores in the given style. Returns a number when the style was numeric."""
    if style.unit == "cores":
        cores = Decimal(millicores) / 1000
        if style.as_number:
            return int(cores) if cores == cores.to_integral_value() else float(cores)
        text = format(cores.normalize(), "f")
        return text
    return f"{millicores}m"


def format_memory(nbytes: int, style: Style = DEFAULT_STYLE["memory"]) -> str | int:
    """Write bytes in the style given; a unit too coarse for the value falls back to a finer one."""
    unit = style.unit
    if unit == "":
        return nbytes if style.as_number else str(nbytes)
    if unit in _BINARY:
        order = ["Ei", "Pi", "Ti", "Gi", "Mi", "Ki"]
        for u in order[order.index(unit):]:
            if nbytes % _BINARY[u] == 0:
                return f"{nbytes // _BINARY[u]}{u}"
        return str(nbytes)
    order = ["E", "P", "T", "G", "M", "k"]
    for u in order[order.index(unit):]:
        size = int(_DECIMAL[u])
        if nbytes % size == 0:
            return f"{nbytes // size}{u}"
    return str(nbytes)


def format_quantity(resource: str, value: int, style: Style | None = None) -> str | int | float:
    style = style or DEFAULT_STYLE[resource]
    return format_cpu(value, style) if resource == "cpu" else format_memory(value, style)


def human(resource: str, value: int | None) -> str:
    """Short text for reports: 250m, 1500m, 512Mi, 1.5Gi (CPU always in millicores: "1" reads like a count)."""
    if value is None:
        return "—"
    if resource == "cpu":
        return f"{value}m"
    if value >= GI and (value * 100) % GI == 0:
        text = format(Decimal(value) / GI, "f")
        return (text.rstrip("0").rstrip(".") if "." in text else text) + "Gi"
    if value % MI == 0:
        return f"{value // MI}Mi"
    return f"{math.ceil(value / MI)}Mi"


def in_unit(resource: str, value: float | int | None) -> str:
    """One unit per resource, for tables and rationale: CPU in millicores, memory in MiB, a decimal only when
    the value is not whole (so an intermediate 312.4m never reads like the 313m that is written)."""
    if value is None:
        return "—"
    amount = value if resource == "cpu" else value / MI
    whole = round(amount)  # once: the rationale formats ~20 values per container
    text = f"{amount:.1f}".rstrip("0").rstrip(".") if abs(amount - whole) >= 0.05 else f"{whole}"
    return text + ("m" if resource == "cpu" else "Mi")


# --- friendly rounding -----------------------------------------------------

def cpu_step(millicores: int) -> int:
    """The default CPU rounding step: 5m under 100m, 10m under 1 core, 50m above."""
    if millicores < 100:
        return 5
    if millicores < 1000:
        return 10
    return 50


def memory_step(nbytes: int) -> int:
    """The default memory rounding step: 1Mi under 1Gi, 16Mi above (keeps numbers legible)."""
    return MI if nbytes < GI else 16 * MI


def round_up(value: int, step: int) -> int:
    if step <= 1:
        return value
    return -(-value // step) * step


def friendly(resource: str, value: int, step: int | None = None) -> int:
    """Round a recommendation up to a legible step (never down: rounding must not cut headroom)."""
    if step is None:
        step = cpu_step(value) if resource == "cpu" else memory_step(value)
    return round_up(value, step)
