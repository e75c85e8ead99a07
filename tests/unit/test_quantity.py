from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from bot import quantity as q


@pytest.mark.parametrize(
    "text, millicores",
    [
        ("1", 1000), ("0.5", 500), ("250m", 250), ("1.5", 1500), ("2e3m", 2000),  # 2e3 × 1e-3 cores
        (0.5, 500), (1, 1000), (2, 2000), ("0.1", 100), (".25", 250), ("100u", 1),  # 100µ rounds up to 1m
        ("1k", 1_000_000), ("1e-3", 1),
    ],
)
def test_parse_cpu(text, millicores):
    assert q.parse_cpu(text) == millicores


@pytest.mark.parametrize(
    "text, nbytes",
    [
        ("512Mi", 512 * 2**20), ("1Gi", 2**30), ("1G", 10**9), ("1e9", 10**9),
        ("128974848", 128974848), ("129M", 129 * 10**6), ("123Ki", 123 * 1024),
        ("1.5Gi", 3 * 2**29), ("0.5Mi", 2**19), (1024, 1024), ("1k", 1000),
    ],
)
def test_parse_memory(text, nbytes):
    assert q.parse_memory(text) == nbytes


@pytest.mark.parametrize("bad", ["", "abc", "1.2.3", "-1", "1Qi", "Mi", "1 Gi", True, "0x10"])
def test_rejects_non_quantities(bad):
    with pytest.raises(q.QuantityError):
        q.parse_decimal(bad)


def test_no_float_drift():
    # 0.1 + 0.2 != 0.3 in binary floating point; in quantities it must.
    assert q.parse_cpu("0.1") + q.parse_cpu("0.2") == q.parse_cpu("0.3") == 300
    assert q.parse_cpu(0.1) + q.parse_cpu(0.2) == q.parse_cpu(0.3)
    # 0.1 × 2^30 = 107374182.4 bytes exactly; the API server rounds up to a whole byte.
    assert q.parse_memory("0.1Gi") == 107374183


@pytest.mark.parametrize(
    "original, millicores, expected",
    [
        ("500m", 250, "250m"), ("0.5", 250, "0.25"), ("1", 1500, "1.5"), (1, 2000, 2), (0.5, 1500, 1.5),
        ("2", 1000, "1"),
    ],
)
def test_cpu_keeps_file_style(original, millicores, expected):
    assert q.format_cpu(millicores, q.Style.of("cpu", original)) == expected


@pytest.mark.parametrize(
    "original, nbytes, expected",
    [
        ("512Mi", 768 * 2**20, "768Mi"),
        ("1Gi", 2 * 2**30, "2Gi"),
        ("1Gi", 1536 * 2**20, "1536Mi"),  # not a whole Gi: falls back to the next binary unit
        ("1G", 2 * 10**9, "2G"),
        ("1G", 1500 * 10**6, "1500M"),
        ("128974848", 200 * 2**20, "209715200"),
        (1073741824, 2**29, 536870912),
        ("512Mi", 1000, "1000"),
    ],
)
def test_memory_keeps_file_style(original, nbytes, expected):
    assert q.format_memory(nbytes, q.Style.of("memory", original)) == expected


@given(st.integers(min_value=1, max_value=10**7), st.sampled_from(["100m", "1", "0.5", 1, 2.5]))
def test_cpu_round_trip(millicores, original):
    text = q.format_cpu(millicores, q.Style.of("cpu", original))
    assert q.parse_cpu(text) == millicores


@given(st.integers(min_value=1, max_value=2**45), st.sampled_from(["512Mi", "1Gi", "1G", "100M", "1000", 4096, "4Ki"]))
def test_memory_round_trip(nbytes, original):
    text = q.format_memory(nbytes, q.Style.of("memory", original))
    assert q.parse_memory(text) == nbytes


@given(st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False))
def test_cpu_decimal_strings_are_exact(value):
    # An independent exact computation: Decimal × 1000 is an integer for 3 places.
    assert q.parse_cpu(format(value, "f")) == int(value * 1000)


@pytest.mark.parametrize(
    "resource, value, expected",
    [
        ("cpu", 3, 5), ("cpu", 96, 100), ("cpu", 101, 110), ("cpu", 999, 1000), ("cpu", 1001, 1050),
        ("memory", 2**20 + 1, 2 * 2**20), ("memory", 2**30 + 1, 2**30 + 16 * 2**20),
    ],
)
def test_friendly_rounding_rounds_up_to_steps(resource, value, expected):
    assert q.friendly(resource, value) == expected


@given(st.integers(min_value=1, max_value=10**8))
def test_friendly_never_rounds_down(v):
    assert q.friendly("cpu", v) >= v and q.friendly("memory", v) >= v


def test_human():
    assert q.human("cpu", 250) == "250m" and q.human("cpu", 2000) == "2000m"
    assert q.human("memory", 512 * 2**20) == "512Mi" and q.human("memory", 3 * 2**29) == "1.5Gi"
    assert q.human("memory", None) == "—"
    assert q.human("memory", 30 * 2**30) == "30Gi" and q.human("memory", 10 * 2**30) == "10Gi"  # no zeros stripped from integers


@pytest.mark.parametrize(
    "text, resource, message",
    [
        # Units with a B, as other tools write them: Kubernetes has a decimal and a binary unit, so both are offered.
        ("7GB", "memory", "'7GB' is not a memory quantity: did you mean 7G or 7Gi?"),
        ("500MB", "memory", "'500MB' is not a memory quantity: did you mean 500M or 500Mi?"),
        ("2kb", None, "'2kb' is not a Kubernetes quantity: did you mean 2k or 2Ki?"),
        ("2K", "memory", "'2K' is not a memory quantity: did you mean 2k or 2Ki?"),  # kilo is the one lower-case prefix
        # Wrong case, a spelled-out binary unit, or a space before a right unit: one answer.
        ("2gi", "memory", "'2gi' is not a memory quantity: did you mean 2Gi?"),
        ("1.5GiB", "memory", "'1.5GiB' is not a memory quantity: did you mean 1.5Gi?"),
        ("512 Mi", "memory", "'512 Mi' is not a memory quantity: did you mean 512Mi?"),
        ("10 bytes", "memory", "'10 bytes' is not a memory quantity: did you mean 10?"),
        # CPU in words.
        ("1.5 cores", "cpu", "'1.5 cores' is not a CPU quantity: did you mean 1.5?"),
        ("250 millicores", "cpu", "'250 millicores' is not a CPU quantity: did you mean 250m?"),
        ("2 vCPU", None, "'2 vCPU' is not a Kubernetes quantity: did you mean 2?"),
        # No good guess: say what is written instead.
        ("lots", "cpu", "'lots' is not a CPU quantity: write cores (0.5) or millicores (500m)"),
        ("7GB", "cpu", "'7GB' is not a CPU quantity: write cores (0.5) or millicores (500m)"),
        ("1.5 cores", "memory", "'1.5 cores' is not a memory quantity: write bytes with an optional suffix: "
                                "binary 512Mi, 2Gi or decimal 500M, 2G"),
        ("0x10", None, "'0x10' is not a Kubernetes quantity: write a number with an optional suffix, such as 500m, 512Mi or 2Gi"),
    ],
)
def test_near_misses_get_the_likely_fix(text, resource, message):
    with pytest.raises(q.QuantityError) as exc:
        {"cpu": q.parse_cpu, "memory": q.parse_memory, None: q.parse_decimal}[resource](text)
    assert str(exc.value) == message


def test_every_suggestion_parses():
    # Whatever is offered must itself be a quantity, for each unit the tables know.
    units = ["b", "KB", "mb", "GB", "tb", "pb", "EB", "ki", "MiB", "gib", "Ti", "pi", "EiB", "cores", "cpu", "mcpu", "millicores"]
    for unit in units:
        guess = q.suggestion(f"3 {unit}")
        assert guess, unit
        for option in guess.split(" or "):
            q.parse_decimal(option)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["cpu", "memory"]), st.from_regex(r"\A0*[0-9]{0,17}(m|Ki|Mi|Gi|Ti|Pi|k|M|G|T|E|u|n|)\Z", fullmatch=True))
def test_whole_number_shortcut_gives_what_the_exact_parse_gives(resource, text):
    """parse_cpu/parse_memory read "250m" or "512Mi" with integers; the exact Decimal reading (then the same
    range check and rounding up) is the independent method, errors included."""
    from decimal import ROUND_CEILING

    def exact() -> object:
        try:
            value = q.parse_decimal(text, resource) * (1000 if resource == "cpu" else 1)
        except q.QuantityError:
            return "not a quantity"
        if value > (q.MAX_CPU_MILLICORES if resource == "cpu" else q.MAX_MEMORY_BYTES):
            return "out of range"
        return int(value.to_integral_value(rounding=ROUND_CEILING))

    try:
        got: object = q.parse(resource, text)
    except q.QuantityOutOfRange:
        got = "out of range"
    except q.QuantityError:
        got = "not a quantity"
    assert got == exact()
