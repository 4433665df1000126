"""A sweep's grid as points: flags per point, run names, HParams values, and the train command
line of each (experiments/sweeps.py defines the grids)."""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from experiments.sweeps import SWEEPS, Group, Named, Point, Sweep, Value


def _flags_of(axis: str, value: Value | Group | Named) -> Point:
  """The flags one grid value sets: a group's own, or the flag the axis is named after."""
  if isinstance(value, Named):
    return dict(value.flags)
  return dict(value) if isinstance(value, Mapping) else {axis: value}


def _hparams_of(axis: str, value: Value | Group | Named) -> Point:
  """What one grid value shows in run names and HParams: a named group's label, else its flags."""
  return {axis: value.label} if isinstance(value, Named) else _flags_of(axis, value)


def swept_flags(sweep: Sweep) -> list[str]:
  """Every flag the grid sets, in declared order."""
  names = {}
  for axis, values in sweep.grid.items():
    for value in values:
      names.update(dict.fromkeys(_flags_of(axis, value)))
  return list(names)


def validate(sweep: Sweep) -> None:
  """Raises ValueError on an empty or repeating axis, mixed groups, or a flag set twice."""
  owner = {}
  for axis, values in sweep.grid.items():
    if not values:
      raise ValueError(f"grid flag {axis!r} has no values")
    if len({run_name(_hparams_of(axis, v)) for v in values}) != len(values):
      raise ValueError(f"grid flag {axis!r} repeats a value: {list(values)}")
    names = [list(_flags_of(axis, v)) for v in values]
    if any(n != names[0] for n in names):
      raise ValueError(f"grid axis {axis!r} mixes groups of different flags: {list(values)}")
    if any(isinstance(v, Named) for v in values) and not all(isinstance(v, Named)
                                                                for v in values):
      raise ValueError(f"grid axis {axis!r} mixes named groups and other values")
    for name in names[0]:
      if name in sweep.base:
        raise ValueError(f"flag {name!r} is both swept and a base flag")
      if owner.setdefault(name, axis) != axis:
        raise ValueError(f"flag {name!r} is swept by two grid axes: {owner[name]!r}, {axis!r}")


def expand(sweep: Sweep, of=_flags_of) -> list[Point]:
  """The cartesian product of the grid, groups flattened; the first axis varies slowest.

  `of(axis, value)` says what a grid value contributes: its flags, or (`_hparams_of`) what the
  run is named and shown by.
  """
  points = []
  for values in itertools.product(*sweep.grid.values()):
    point = {}
    for axis, value in zip(sweep.grid, values):
      point.update(of(axis, value))
    points.append(point)
  return points


def hparams(sweep: Sweep) -> list[Point]:
  """Each point's swept values as named in run names and TensorBoard's HParams."""
  return expand(sweep, _hparams_of)


def hparam_domains(sweep: Sweep) -> dict[str, list[Value]]:
  """Every hyperparameter the sweep varies (flags, or named groups' axes), with its values."""
  domains: dict[str, list[Value]] = {}
  for point in hparams(sweep):
    for name, value in point.items():
      if value not in domains.setdefault(name, []):
        domains[name].append(value)
  return domains


def _format_value(value: Value) -> str:
  if isinstance(value, bool):
    return str(value).lower()
  if isinstance(value, float):
    return repr(value)
  return str(value)


def run_name(point: Point) -> str:
  """`window_size=2,num_ns=5`: stable, and safe as a single path component."""
  if not point:
    return "base"
  raw = ",".join(f"{k}={_format_value(v)}" for k, v in point.items())
  name = re.sub(r"[^A-Za-z0-9._=,+-]", "_", raw)
  if name != raw or len(name) > 200:
    # Keeps two values that sanitise alike (a/b, a_b) in different directories.
    name = name[:200] + "-" + hashlib.sha1(raw.encode()).hexdigest()[:8]
  return name


def to_flags(values: Mapping[str, Any]) -> list[str]:
  """absl command-line flags: bools as --x/--nox, lists as a repeated flag, None left out."""
  args = []
  for name, value in values.items():
    if value is None:
      continue
    if isinstance(value, bool):
      args.append(f"--{name}" if value else f"--no{name}")
    elif isinstance(value, (list, tuple)):
      args.extend(f"--{name}={_format_value(v)}" for v in value)
    else:
      args.append(f"--{name}={_format_value(value)}")
  return args


def flag_names(args: Sequence[str], known: Sequence[str] = ()) -> set[str]:
  """Names of the flags in `args`; `--noX` counts as X when X is in `known`."""
  names = set()
  for arg in args:
    if arg.startswith("--") and len(arg) > 2:
      name = arg[2:].split("=", 1)[0]
      names.add(name[2:] if name.startswith("no") and name[2:] in known else name)
  return names


def train_args(sweep: Sweep, point: Point, extra: Sequence[str]) -> list[str]:
  """Base flags (minus those `extra` replaces), the point's flags, then `extra`."""
  swept_names = swept_flags(sweep)
  given = flag_names(extra, [*sweep.base, *swept_names])
  swept = sorted(given & set(swept_names))
  if swept:
    raise ValueError(f"--{swept[0]} is swept by this grid; it cannot be passed after --")
  base = {k: v for k, v in sweep.base.items() if k not in given}
  return [*to_flags(base), *to_flags(point), *extra]


def _describe_value(value: Value | Group | Named) -> str:
  if isinstance(value, Named):
    return value.label
  if isinstance(value, Mapping):
    return "(" + ",".join(f"{k}={_format_value(v)}" for k, v in value.items()) + ")"
  return _format_value(value)


def describe() -> str:
  """One paragraph per sweep: name, size and its doc."""
  blocks = []
  for name, sweep in SWEEPS.items():
    grid = " x ".join(f"{k} {{{', '.join(map(_describe_value, v))}}}"
                      for k, v in sweep.grid.items())
    doc = "\n".join("    " + line for line in sweep.doc.splitlines())
    blocks.append(f"{name}: {len(expand(sweep))} runs: {grid}\n{doc}")
  return "\n\n".join(blocks)
