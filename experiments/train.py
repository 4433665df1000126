r"""Trains word2vec embeddings: flags -> Config -> w2v_jax.train.train_and_evaluate.

  python -m experiments.train --out_dir runs/kjv                  # word2vec recipe, bundled KJV
  python -m experiments.train --preset seed --out_dir runs/seed   # the original notebook
  python -m experiments.train --corpus a.txt.gz --corpus dir/ --window_size 10 --out_dir runs/x
  python -m experiments.train --model cbow --hs --num_ns 0 --out_dir runs/cbow_hs

Flags given explicitly override the preset. User errors print one line and exit with status 2;
failures of the machine (a full disk, a write refused) one line naming the file, exit status 1;
SIGINT/SIGTERM write a checkpoint and exit 130/143. `--resume` continues from the newest good
checkpoint in every case. One process at a time may write a run directory.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys

from absl import app, flags, logging

from w2v_jax import config as config_lib

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "word2vec", list(config_lib.presets()), "Starting point for all flags.")
flags.DEFINE_string("out_dir", "runs/default", "Run directory: vectors, logs, checkpoints.")
flags.DEFINE_bool("resume", False, "Continue from the run directory's last checkpoint.")
flags.DEFINE_bool("distributed", False,
                  "Call jax.distributed.initialize() first (multi-host): with the three flags "
                  "below, or from the environment (SLURM, Open MPI, Cloud TPU).")
flags.DEFINE_string("coordinator_address", None, "With --distributed: host:port of process 0.")
flags.DEFINE_integer("num_processes", None, "With --distributed: processes in the run.")
flags.DEFINE_integer("process_id", None, "With --distributed: this process's index.")
flags.DEFINE_string("compilation_cache", None,
                    "JAX's persistent compilation cache: repeated runs and sweeps skip compiling "
                    "(default: $W2V_JAX_CACHE/xla, else ~/.cache/w2v_jax/xla; '' turns it off).")

# One flag per setting of every section of the config, typed by its field; a flag's default
# None means "the preset's". The config checks each value as it is built, so a bad one is one
# line naming the flag, exit 2.
_DEFINE = {"bool": flags.DEFINE_bool, "int": flags.DEFINE_integer,
           "int | None": flags.DEFINE_integer, "float": flags.DEFINE_float,
           "str": flags.DEFINE_string, "str | None": flags.DEFINE_string,
           "tuple[str, ...]": flags.DEFINE_list}
_CONFIG_FIELDS = [f for section in config_lib.SECTIONS.values()
                  for f in dataclasses.fields(section) if f.name != "preset"]
for _f in _CONFIG_FIELDS:
  if _f.name == "corpus":  # Repeatable: --corpus a.txt --corpus dir/.
    flags.DEFINE_multi_string("corpus", None, _f.metadata["help"])
  else:
    _DEFINE[_f.type](_f.name, None, _f.metadata["help"])
# Settings that mean something only for CBOW: given with skip-gram they are a mistake.
_CBOW_ONLY = ("cbow_mean", "cbow_koan")


def build_config() -> config_lib.Config:
  """The preset, overridden by every flag the user gave."""
  overrides = {}
  for field in _CONFIG_FIELDS:
    if FLAGS[field.name].present:
      value = FLAGS[field.name].value
      overrides[field.name] = (value or None) if field.type == "int | None" else value  # 0: none.
  config = config_lib.from_flat(overrides, base=config_lib.presets()[FLAGS.preset])
  for name in _CBOW_ONLY:
    if FLAGS[name].present and config.objective.model != "cbow":
      raise ValueError(f"--{name}: is a CBOW setting; it needs --model=cbow")
  return config


def main(argv: list[str]) -> int:
  import jax  # pylint: disable=import-outside-toplevel

  from w2v_jax import io_utils, rundir  # pylint: disable=import-outside-toplevel

  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    config = build_config()
  except ValueError as e:
    return _fail(str(e))
  _init_devices(config)
  try:
    # One writer per run directory (per process of a distributed run), for the whole run.
    lock = rundir.lock(FLAGS.out_dir, jax.process_index())
  except io_utils.DirectoryInUse as e:
    return _fail(str(e))
  except OSError as e:
    return _fail(f"--out_dir={FLAGS.out_dir}: cannot create the run directory: "
                 f"{e.strerror or e}")
  try:
    return _train(config)
  finally:
    lock.close()


def _train(config: config_lib.Config) -> int:
  """Trains in the (locked) run directory; returns the exit status."""
  import jax  # pylint: disable=import-outside-toplevel

  from w2v_jax import io_utils, rundir, text, train  # pylint: disable=import-outside-toplevel

  try:
    if jax.process_index() == 0:  # The run's own file; the other processes run the same flags.
      with io_utils.atomic_open(os.path.join(FLAGS.out_dir, "flags.txt"), "w") as f:
        f.write(FLAGS.flags_into_string())
  except OSError as e:
    return _io_failure(e)

  stop = {"signal": None}

  def request_stop(signum, frame):
    del frame
    if stop["signal"] is not None:  # A second signal: stop now, without a checkpoint.
      raise KeyboardInterrupt
    stop["signal"] = signum
    logging.warning("signal %d: writing a checkpoint at the next step, then exiting "
                    "(again to stop at once)", signum)

  signal.signal(signal.SIGINT, request_stop)
  signal.signal(signal.SIGTERM, request_stop)
  try:
    summary = train.train_and_evaluate(config, FLAGS.out_dir, resume=FLAGS.resume,
                                       should_stop=lambda: stop["signal"] is not None)
  except train.Interrupted as e:
    print(f"interrupted: {e}", file=sys.stderr)
    return 128 + stop["signal"]
  except KeyboardInterrupt:
    rundir.write_status(FLAGS.out_dir, "interrupted")
    print("interrupted: stopped without a checkpoint", file=sys.stderr)
    return 128 + (stop["signal"] or signal.SIGINT)
  except train.TrainingDiverged as e:  # status.json already says "diverged".
    return _fail(str(e))
  except (text.CorpusError, ValueError) as e:  # Bad input: flags, files, corpus.
    _failed_status(str(e))
    return _fail(str(e))
  except OSError as e:  # The machine's fault: a full disk, a directory gone, no permission.
    return _io_failure(e)
  _print_summary(summary)
  return 0


def _failed_status(reason: str) -> None:
  """status.json says failed, and why, where it can still be written."""
  from w2v_jax import rundir  # pylint: disable=import-outside-toplevel

  try:
    rundir.write_status(FLAGS.out_dir, "failed", error=reason)
  except OSError:
    pass


def _io_failure(e: OSError) -> int:
  """One line naming the path and the cause; exit status 1 (the run can be resumed)."""
  reason = f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)
  _failed_status(reason)
  print(f"error: {reason} (the last checkpoint is kept: --resume continues from it)",
        file=sys.stderr)
  return 1


def _init_devices(config: config_lib.Config) -> None:
  """Before JAX starts its backends: host devices for the replicas, the distributed runtime."""
  import jax  # pylint: disable=import-outside-toplevel

  from w2v_jax import devices  # pylint: disable=import-outside-toplevel

  devices.use_host_devices(config.devices.replicas)
  cache = FLAGS.compilation_cache
  if cache is None:
    from w2v_jax import native  # pylint: disable=import-outside-toplevel

    cache = os.path.join(native.cache_root(), "xla")
  if cache:  # Every compiled program, small ones too (tens of kB each).
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  if FLAGS.distributed:
    jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)


def _fail(message: str) -> int:
  print(f"error: {message}", file=sys.stderr)
  return 2


def _print_summary(summary: dict) -> None:
  print(f"\nvocabulary {summary['vocab_size']} words, {summary['steps']} steps, "
        f"{summary['train_seconds']:.1f} s ({summary['words_per_sec']:,.0f} words/s)")
  print(f"final loss {summary['final_loss']:.4f}  accuracy {summary['final_accuracy']:.3f}")
  for key in ("eval/analogy_accuracy", "eval/wordsim_spearman"):
    if key in summary:
      print(f"{key.split('/')[1]}: {summary[key]:.4f}")
  print("nearest neighbours:")
  for word, neighbours in summary["neighbours"].items():
    print(f"  {word:>12}: {', '.join(neighbours)}")


if __name__ == "__main__":
  app.run(lambda argv: sys.exit(main(argv)))
