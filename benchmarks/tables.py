"""Benchmark results as Markdown tables: medians of repeated runs and ratios between systems."""

from __future__ import annotations

import statistics

# A table column: the report key, its heading and its format.
Column = tuple[str, str, str]


def median(runs: list[dict], key: str) -> float | None:
  vals = [x[key] for x in runs if x.get(key) is not None]
  return statistics.median(vals) if vals else None


def cells(runs: list[dict], columns: list[Column]) -> list[str]:
  """The median of each column over `runs`, formatted; '-' where none reported it."""
  return [fmt.format(v) if (v := median(runs, key)) is not None else "-"
          for key, _, fmt in columns]


def ratio(a: float | None, b: float | None) -> str:
  if a is None or b is None or b == 0:
    return "-"
  return f"{a / b:.2f}x"


def ratio_cells(runs: list[dict], reference: list[dict], keys: list[str]) -> list[str]:
  """median(runs) / median(reference) for each key."""
  return [ratio(median(runs, k), median(reference, k)) for k in keys]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
  return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
