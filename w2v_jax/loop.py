"""The training loop: dispatch compiled calls over the input blocks, on four schedules.

Log, checkpoint, evaluate and stop are each a small schedule checked after every call; metrics
are fetched two calls late, so the Python thread never makes the device wait.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import jax
import numpy as np
from tqdm import tqdm

# Dispatched calls whose metrics are not fetched yet. Fetching blocks the Python thread until that
# call ends; with two queued the device still has one to run while this thread waits for the GIL
# (the input thread holds it for up to 5 ms at a time). One call late measured 400-735k words/s,
# two calls late 674-731k.
CALLS_IN_FLIGHT = 2


class TrainingDiverged(RuntimeError):
  """The loss became NaN or infinite."""


class Interrupted(RuntimeError):
  """Training stopped on request (a signal); a checkpoint was written first."""


@dataclasses.dataclass
class Every:
  """Fires once `value` reaches the next multiple-from-start of `interval` (None: never)."""

  interval: float | None
  next: float = math.inf

  def start(self, value: float) -> "Every":
    self.advance(value)
    return self

  def due(self, value: float) -> bool:
    return value >= self.next - 1e-9

  def advance(self, value: float) -> None:
    self.next = value + self.interval if self.interval else math.inf


class MetricSums:
  """Running sums of the step metrics since the last log, fed from fetched device metrics.

  A step's metrics are "count" (its predictions) and means per prediction (loss, accuracy and
  whatever else the objective reports); they are summed weighted by the count.
  """

  def __init__(self):
    self.pending: deque = deque()
    self.sums: dict[str, float] = {}
    self.count = 0.0
    self.pairs = 0.0  # Over the whole run, where a step reports its pairs (the fused step).

  def add(self, metrics: Any, keep: int = 0) -> None:
    """Queues a call's metrics, then fetches all but the newest `keep`."""
    if metrics is not None:
      self.pending.append(metrics)
    while len(self.pending) > keep:
      m = jax.device_get(self.pending.popleft())
      count = m["count"]
      self.count += float(np.sum(count))
      for name, value in m.items():
        if name != "count":
          self.sums[name] = self.sums.get(name, 0.0) + float(np.sum(value * count))
      self.pairs += float(np.sum(m.get("pairs", 0.0) * count))

  def take(self) -> tuple[dict[str, float], float]:
    """(the mean of each metric, count) since the last take; NaN means when nothing counted."""
    self.add(None)
    sums, count = self.sums, self.count
    self.sums, self.count = {}, 0.0
    means = {name: value / count if count else math.nan for name, value in sums.items()}
    return {"loss": math.nan, **means}, count


@dataclasses.dataclass
class Hooks:
  """What the loop calls out to; the caller owns files and evaluation."""

  log: Callable[[int, dict[str, float]], None]
  checkpoint: Callable[[int, Any, Any, float], None]  # (step, state, position, words)
  evaluate: Callable[[int, Any, float], dict[str, float]]  # (step, state, epoch) -> results
  should_stop: Callable[[], bool]
  on_diverged: Callable[[int], None]
  on_interrupted: Callable[[int], None]
  progress: Any  # A tqdm-like bar: update(n), set_postfix(**kw).


@dataclasses.dataclass(frozen=True)
class Schedules:
  log_every: int
  checkpoint_every: int  # 0: only at the end and on interruption.
  eval_every_epoch: bool
  learning_rate: Callable[[int], float] | None  # Logged at each log step (None: not logged).
  epoch_words: int  # Raw corpus words in an epoch.


@dataclasses.dataclass(frozen=True)
class Start:
  """Where the loop starts: a fresh run's zeros, or a checkpoint's."""

  step: int = 0
  position: Any = None  # data.Position of the next block.
  words: float = 0.0  # Raw corpus words trained on before.


@dataclasses.dataclass
class LoopResult:
  state: Any
  step: int
  position: Any
  words: float
  last: dict[str, float]
  eval_results: dict[str, float]
  eval_history: list[dict[str, float]]
  train_seconds: float
  pairs: float
  words_start: float


def progress_bar(total_steps: int, steps_per_call: int, start: int, show: bool) -> Any:
  """A tqdm bar over the run's steps (whole calls), from `start`; silent unless `show`."""
  calls = -(-total_steps // steps_per_call) * steps_per_call
  return tqdm(total=calls, initial=start, unit="step", mininterval=1.0, dynamic_ncols=True,
              disable=not show)


def run(state: Any, train_fn: Callable, stream: Iterable, schedules: Schedules, hooks: Hooks,
        start: Start = Start()) -> LoopResult:
  """Steps through the blocks of `stream` ((device batches, host block) pairs) from `start`."""
  step, position, words = start.step, start.position, start.words
  raw_words = schedules.epoch_words
  log_at = Every(schedules.log_every).start(step)
  ckpt_at = Every(schedules.checkpoint_every or None).start(step)
  eval_at = Every(1.0 if schedules.eval_every_epoch else None).start(
      math.floor(words / raw_words + 1e-9))
  sums = MetricSums()
  last = {"loss": math.nan, "accuracy": math.nan}
  eval_results: dict[str, float] = {}
  history: list[dict[str, float]] = []
  words_start, pairs = words, 0.0
  t0 = t_log = time.perf_counter()
  words_log = words

  def log_now() -> float:
    nonlocal last, t_log, words_log
    now = time.perf_counter()
    means, count = sums.take()
    last = {"epoch": words / raw_words, **means,
            "words_per_sec": (words - words_log) / max(now - t_log, 1e-9)}
    if schedules.learning_rate is not None:
      last["learning_rate"] = float(schedules.learning_rate(step))
    hooks.log(step, last)
    t_log, words_log = now, words
    return count

  for device_batches, block in stream:
    state, metrics = train_fn(state, device_batches)
    sums.add(metrics, keep=CALLS_IN_FLIGHT)
    steps_in_block = next(iter(block.batches.values())).shape[0]
    step += steps_in_block
    pairs += block.pairs  # Sentence blocks' pairs: the step counts them (MetricSums.pairs).
    words, position = block.words, block.end
    hooks.progress.update(steps_in_block)
    stop = hooks.should_stop()
    if log_at.due(step) or ckpt_at.due(step) or stop:
      counted = log_now()
      if not math.isfinite(last["loss"]) and counted > 0:
        hooks.on_diverged(step)
        raise TrainingDiverged(f"loss is {last['loss']} at step {step}; lower --learning_rate")
      hooks.progress.set_postfix(loss=f"{last['loss']:.3f}")
      log_at.advance(step)
    if ckpt_at.due(step) or stop:
      hooks.checkpoint(step, state, position, words)
      ckpt_at.advance(step)
      if stop:
        hooks.on_interrupted(step)
        raise Interrupted(f"stopped at step {step}; run again with --resume to continue")
    if eval_at.due(words / raw_words):
      eval_results = hooks.evaluate(step, state, words / raw_words)
      history.append({"step": step, "epoch": words / raw_words, **eval_results})
      eval_at.next += 1.0
  jax.block_until_ready(state)  # The last calls' time counts in the last log's words/s.
  sums.add(None)
  if sums.count > 0:
    log_now()
  return LoopResult(state, step, position, words, last, eval_results, history,
                    time.perf_counter() - t0, pairs + sums.pairs, words_start)
