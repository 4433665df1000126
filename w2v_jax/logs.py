"""A run's logs: metrics.jsonl and TensorBoard scalars, and a sweep's TensorBoard HParams."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from w2v_jax import io_utils

# tensorboardX (with protobuf, ~150 ms) is imported by the functions that write events, so the
# launcher's `list` and `--dry_run`, which import this module and write none, do not load it.
HParam = int | float | str | bool
# The scalars a sweep's HParams view shows for each run, in this order: TensorBoard shows the
# first five hyperparameters and metrics of an experiment ticked.
HPARAMS_METRICS = ("eval/analogy_accuracy", "eval/analogy_accuracy_all", "eval/wordsim_spearman",
                   "train/loss", "train/words_per_sec")


class EventFile:
  """A TensorBoard event file written synchronously: a write error is raised here, at once.

  tensorboardX's SummaryWriter writes from a thread of its own, where a full disk ends the thread
  with a traceback and leaves later writes blocked on its full queue.
  """

  def __init__(self, logdir: str, suffix: str = ""):
    from tensorboardX.event_file_writer import EventsWriter  # pylint: disable=import-outside-toplevel

    os.makedirs(logdir, exist_ok=True)
    try:
      self._writer = EventsWriter(os.path.join(logdir, "events"), suffix)
    except OSError as e:
      raise io_utils.named_os_error(e, os.path.join(logdir, "events.out.tfevents.*")) from e
    self.path = self._writer._file_name  # pylint: disable=protected-access

  def write(self, summaries: Sequence[Any], step: int = 0) -> None:
    from tensorboardX.proto.event_pb2 import Event  # pylint: disable=import-outside-toplevel

    try:
      for summary in summaries:
        self._writer.write_event(Event(wall_time=time.time(), step=step, summary=summary))
      self._writer.flush()
    except OSError as e:
      raise io_utils.named_os_error(e, self.path) from e

  def close(self) -> None:
    try:
      self._writer.close()
    except OSError as e:
      raise io_utils.named_os_error(e, self.path) from e


class MetricLog:
  """metrics.jsonl (one JSON object per log step) and TensorBoard scalars."""

  def __init__(self, workdir: str):
    self.events = EventFile(workdir)
    self.path = os.path.join(workdir, "metrics.jsonl")

  def write(self, step: int, values: dict[str, float]) -> None:
    from tensorboardX import summary  # pylint: disable=import-outside-toplevel

    try:
      with open(self.path, "a", encoding="utf-8") as f:
        f.write(json.dumps(io_utils.json_safe({"step": step, **values})) + "\n")
    except OSError as e:
      raise io_utils.named_os_error(e, self.path) from e
    self.events.write([summary.scalar(name if "/" in name else f"train/{name}", value)
                       for name, value in values.items() if name != "epoch"], step)

  def close(self) -> None:
    self.events.close()


def _hparams_summary(tag: str, **data: Any) -> Any:
  """A Summary carrying one HParamsPluginData message (the plugin reads only metadata)."""
  # pylint: disable=import-outside-toplevel
  from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
  from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata

  content = HParamsPluginData(version=0, **data).SerializeToString()
  plugin = SummaryMetadata.PluginData(plugin_name="hparams", content=content)
  return Summary(value=[Summary.Value(tag=f"_hparams_/{tag}",
                                      metadata=SummaryMetadata(plugin_data=plugin))])


def hparams_start(domains: Mapping[str, Sequence[HParam]], values: Mapping[str, HParam],
                  metrics: Sequence[str] = HPARAMS_METRICS) -> list[Any]:
  """TensorBoard HParams summaries of one run of a sweep: the experiment and the session start.

  The experiment lists only `domains` (the swept hyperparameters with their values, typed:
  numbers as numbers) and `metrics` (scalar tags of the run itself, so a trial's curves are the
  run's). Every run carries the same experiment, so TensorBoard finds it whichever it reads first,
  and its session in its own directory, so the trial is named after the run.
  """
  # pylint: disable=import-outside-toplevel
  from google.protobuf import struct_pb2
  from tensorboardX.proto import api_pb2, plugin_hparams_pb2

  def typed(value: HParam) -> struct_pb2.Value:
    if isinstance(value, bool):
      return struct_pb2.Value(bool_value=value)
    if isinstance(value, (int, float)):
      return struct_pb2.Value(number_value=float(value))
    return struct_pb2.Value(string_value=str(value))

  def data_type(choices: Sequence[HParam]) -> int:
    kinds = {"BOOL" if isinstance(v, bool) else "FLOAT64" if isinstance(v, (int, float))
             else "STRING" for v in choices}
    return api_pb2.DataType.Value(f"DATA_TYPE_{kinds.pop() if len(kinds) == 1 else 'STRING'}")

  infos = [api_pb2.HParamInfo(name=name, type=data_type(choices),
                              domain_discrete=struct_pb2.ListValue(
                                  values=[typed(v) for v in choices]))
           for name, choices in domains.items()]
  experiment = api_pb2.Experiment(
      hparam_infos=infos,
      metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=m)) for m in metrics])
  start = plugin_hparams_pb2.SessionStartInfo(start_time_secs=time.time())
  for name, value in values.items():
    start.hparams[name].CopyFrom(typed(value))
  return [_hparams_summary("experiment", experiment=experiment),
          _hparams_summary("session_start_info", session_start_info=start)]


def hparams_end(status: str) -> Any:
  """The session end summary: `status` "success", "failure" or "running"."""
  # pylint: disable=import-outside-toplevel
  from tensorboardX.proto import api_pb2, plugin_hparams_pb2

  end = plugin_hparams_pb2.SessionEndInfo(
      status=api_pb2.Status.Value(f"STATUS_{status.upper()}"), end_time_secs=time.time())
  return _hparams_summary("session_end_info", session_end_info=end)


def write_summaries(logdir: str, summaries: Sequence[Any]) -> None:
  """Appends `summaries` to `logdir`'s run, as an event file of their own."""
  # Event files are named by the second: a unique suffix keeps two writes in one second apart.
  events = EventFile(logdir, f".{time.time_ns()}.hparams")
  events.write(summaries)
  events.close()
