"""A sweep as TensorBoard's HParams tab reads it: the swept flags, the metrics, trials by run name.

Read back with TensorBoard's own hparams backend where TensorBoard is installed (CI installs it),
and always with a plain reader of the event files and tensorboardX's protobufs.
"""

import glob
import json
import os
import struct
import sys
import textwrap

import pytest

from experiments import launcher, sweeps
from w2v_jax import logs

# Writes the scalars a real run writes, valued from its flags, so trials can be told apart.
FAKE_TRAIN = textwrap.dedent("""\
    import json, os, sys
    from tensorboardX import SummaryWriter
    args = sys.argv[1:]
    out_dir = [a.split("=", 1)[1] for a in args if a.startswith("--out_dir=")][0]
    flags = dict(a[2:].split("=", 1) for a in args if "=" in a)
    if flags.get("window_size") == "2" and flags.get("embedding_dim") == "16":
      sys.exit(3)
    score = float(flags.get("window_size", flags.get("seed", 1))) / 10
    with SummaryWriter(out_dir) as writer:
      for step in (1, 2):
        writer.add_scalar("train/loss", 1.0 / step, step)
        writer.add_scalar("train/words_per_sec", 1000.0, step)
      writer.add_scalar("eval/analogy_accuracy", score, 2)
      writer.add_scalar("eval/analogy_accuracy_all", score / 2, 2)
      writer.add_scalar("eval/wordsim_spearman", -score, 2)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
      json.dump({"status": "done", "config": {}, "final_loss": 0.5}, f)
    """)


def _records(path):
  """The payloads of a TFRecord file (length, crc, data, crc)."""
  with open(path, "rb") as f:
    while header := f.read(12):
      (length,) = struct.unpack("<Q", header[:8])
      yield f.read(length)
      f.read(4)


def _read_raw(logdir):
  """HParams experiment, sessions and statuses, from the event files with tensorboardX protos."""
  from tensorboardX.proto import event_pb2, plugin_hparams_pb2  # pylint: disable=import-outside-toplevel

  experiment, sessions, statuses, runs = None, {}, {}, set()
  for path in glob.glob(os.path.join(logdir, "**", "events.out.tfevents.*"), recursive=True):
    run = os.path.relpath(os.path.dirname(path), logdir)
    runs.add(run)
    for record in _records(path):
      event = event_pb2.Event.FromString(record)
      for value in event.summary.value:
        if value.metadata.plugin_data.plugin_name != "hparams":
          continue
        data = plugin_hparams_pb2.HParamsPluginData.FromString(
            value.metadata.plugin_data.content)
        kind = data.WhichOneof("data")
        if kind == "experiment":
          experiment = data.experiment
        elif kind == "session_start_info":
          sessions[run] = dict(data.session_start_info.hparams)
        else:
          statuses[run] = data.session_end_info.status
  return {
      "hparams": {h.name: [_plain(v) for v in h.domain_discrete.values]
                  for h in experiment.hparam_infos},
      "metrics": [m.name.tag for m in experiment.metric_infos],
      "trials": {run: {k: _plain(v) for k, v in hp.items()} for run, hp in sessions.items()},
      "status": statuses,
      "runs": runs,
      "metric_values": None,
  }


def _read_tensorboard(logdir):
  """The same, as TensorBoard's HParams backend serves it to the tab."""
  # pylint: disable=import-outside-toplevel
  from tensorboard import context
  from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
  from tensorboard.plugins import base_plugin
  from tensorboard.plugins.hparams import (api_pb2, backend_context, get_experiment,
                                           list_session_groups)

  mux = plugin_event_multiplexer.EventMultiplexer()
  mux.AddRunsFromDirectory(logdir)
  mux.Reload()
  backend = backend_context.Context(base_plugin.TBContext(
      logdir=logdir, multiplexer=mux,
      data_provider=data_provider.MultiplexerDataProvider(mux, logdir)))
  request = context.RequestContext()
  experiment = get_experiment.Handler(request, backend, "", api_pb2.GetExperimentRequest()).run()
  groups = list_session_groups.Handler(request, backend, "", api_pb2.ListSessionGroupsRequest(
      start_index=0, slice_size=100, allowed_statuses=[0, 1, 2, 3])).run()
  sessions = [s for g in groups.session_groups for s in g.sessions]
  return {
      "hparams": {h.name: [_plain(v) for v in h.domain_discrete.values]
                  for h in experiment.hparam_infos},
      "metrics": [m.name.tag for m in experiment.metric_infos],
      "trials": {g.name: {k: _plain(v) for k, v in g.hparams.items()}
                 for g in groups.session_groups},
      "status": {s.name: s.status for s in sessions},
      "runs": set(mux.Runs()),
      "metric_values": {s.name: {m.name.tag: m.value for m in s.metric_values} for s in sessions},
  }


def _plain(value):
  """A protobuf Value as the Python value it holds: numbers must arrive as numbers."""
  return getattr(value, value.WhichOneof("kind"))


READERS = [_read_raw]
try:
  import tensorboard  # pylint: disable=unused-import
  READERS.append(_read_tensorboard)
except ImportError:
  pass


def _run_sweep(tmp_path, name, sweep):
  fake = tmp_path / "fake_train.py"
  fake.write_text(FAKE_TRAIN)
  sweep_dir = str(tmp_path / name)
  runs = launcher.Launcher(name, sweep, sweep_dir, [], parallel=1,
                           program=[sys.executable, str(fake)])
  return runs.run(), sweep_dir


@pytest.mark.parametrize("read", READERS, ids=lambda f: f.__name__)
def test_sweep_lists_exactly_its_swept_flags_and_metrics_with_runs_as_trials(tmp_path, read):
  code, sweep_dir = _run_sweep(tmp_path, "tiny", sweeps.SWEEPS["tiny"])
  assert code == 1  # One run fails, and is shown so.
  hp = read(sweep_dir)
  assert hp["hparams"] == {"window_size": [1.0, 2.0], "embedding_dim": [8.0, 16.0]}
  assert hp["metrics"] == list(logs.HPARAMS_METRICS)
  names = ["window_size=1,embedding_dim=8", "window_size=1,embedding_dim=16",
           "window_size=2,embedding_dim=8", "window_size=2,embedding_dim=16"]
  assert hp["runs"] == set(names)  # Each run once: no RUN/hparams or RUN/projector runs.
  assert hp["trials"] == {n: {"window_size": float(n[12]), "embedding_dim": float(n.split("=")[2])}
                          for n in names}
  success, failure = 1, 2  # api_pb2.Status
  assert hp["status"] == {n: failure if n == names[3] else success for n in names}
  if hp["metric_values"] is not None:  # Trial metrics are the run's own scalars.
    first = hp["metric_values"][names[0]]
    assert first["eval/analogy_accuracy"] == pytest.approx(0.1)
    assert first["eval/wordsim_spearman"] == pytest.approx(-0.1)
    assert first["train/loss"] == pytest.approx(0.5)  # The last step's.


@pytest.mark.parametrize("read", READERS, ids=lambda f: f.__name__)
def test_named_groups_show_as_one_hparam_by_label(tmp_path, read):
  steps = sweeps.cumulative([("a", {"window_size": 2, "num_ns": 4}), ("b", {"num_ns": 5}),
                             ("c", {"window_size": 5})])
  sweep = sweeps.Sweep(doc="", grid={"seed": [1, 2], "change": steps})
  assert _run_sweep(tmp_path, "named", sweep)[0] == 0
  hp = read(str(tmp_path / "named"))
  assert hp["hparams"] == {"seed": [1.0, 2.0], "change": ["a", "b", "c"]}
  assert set(hp["trials"]) == {f"seed={s},change={c}" for s in (1, 2) for c in "abc"}
  assert hp["trials"]["seed=2,change=b"] == {"seed": 2.0, "change": "b"}


def test_resumed_sweep_adds_hparams_to_runs_finished_before_them(tmp_path):
  code, sweep_dir = _run_sweep(tmp_path, "tiny", sweeps.SWEEPS["tiny"])
  done = os.path.join(sweep_dir, "window_size=1,embedding_dim=8")
  for path in glob.glob(os.path.join(done, "*.hparams")):
    os.unlink(path)
  _run_sweep(tmp_path, "tiny", sweeps.SWEEPS["tiny"])  # Skips it, writes its HParams.
  hp = _read_raw(sweep_dir)
  assert hp["trials"]["window_size=1,embedding_dim=8"] == {"window_size": 1.0,
                                                           "embedding_dim": 8.0}
  assert hp["status"]["window_size=1,embedding_dim=8"] == 1
  with open(os.path.join(sweep_dir, "sweep.json")) as f:
    assert json.load(f)["runs"][0]["hparams"] == {"window_size": 1, "embedding_dim": 8}
  del code
