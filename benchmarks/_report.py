"""The one output format of every benchmark (benchmarks/README.md).

A figure is one line, `name: value unit (baseline, ratio)`:

    predict overhead: 4.959 s (bare torchvision forward 8.552 s, ratio 0.58)

The baseline is what the figure is compared with (a bare loop measured in the same
process, an old code path, or a target); the ratio is value / baseline. A figure without
a baseline prints `(no baseline)`. Context (sizes, threads, the machine) goes on lines
that start with `#`, so a script's figures can be read with `grep -v '^#'`.
"""

from __future__ import annotations


def _number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    baseline_name: str = "baseline",
    baseline_unit: str | None = None,
) -> None:
    """Print one figure line; `baseline_unit` when the baseline's unit differs (rare)."""
    unit_text = f" {unit}" if unit else ""
    if baseline is None:
        print(f"{name}: {_number(value)}{unit_text} (no baseline)", flush=True)
        return
    base_unit = unit if baseline_unit is None else baseline_unit
    base_text = f"{_number(baseline)} {base_unit}".rstrip()
    ratio = value / baseline if baseline else float("inf")
    ratio_text = f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.2g}"
    print(
        f"{name}: {_number(value)}{unit_text} ({baseline_name} {base_text}, ratio {ratio_text})",
        flush=True,
    )


def context(text: str) -> None:
    """A line that is not a figure: what was measured, on what."""
    print(f"# {text}", flush=True)
