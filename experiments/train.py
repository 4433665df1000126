r"""Trains word2vec embeddings: flags -> Config -> w2v_jax.train.train_and_evaluate.

  python -m experiments.train --out_dir runs/kjv                  # word2vec recipe, bundled KJV
  python -m experiments.train --preset seed --out_dir runs/seed   # the original notebook
  python -m experiments.train --corpus a.txt.gz dir/ --window_size 10 --num_ns 15 --out_dir runs/x

Flags given explicitly override the preset. User errors print one line and exit with status 2;
SIGINT/SIGTERM write a checkpoint and exit 130/143 (`--resume` continues).
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
flags.DEFINE_multi_string("corpus", None,
                          "Text files or directories (.gz/.bz2 ok); default: bundled KJV.")
flags.DEFINE_string("out_dir", "runs/default", "Run directory: vectors, logs, checkpoints.")
flags.DEFINE_bool("resume", False, "Continue from the run directory's last checkpoint.")
flags.DEFINE_integer("window_size", None, "Maximum context distance.")
flags.DEFINE_integer("num_ns", None, "Negatives per positive pair.")
flags.DEFINE_integer("embedding_dim", None, "Vector size.")
flags.DEFINE_integer("epochs", None, "Passes over the corpus.")
flags.DEFINE_integer("batch_size", None, "Pairs per step.")
flags.DEFINE_float("learning_rate", None, "Initial learning rate.")
flags.DEFINE_integer("min_count", None, "Drop words rarer than this.")
flags.DEFINE_integer("max_vocab", None, "Keep at most this many words (0 = no limit).")
flags.DEFINE_float("subsample", None, "Subsampling threshold t (word2vec) or Zipf factor (seed).")
flags.DEFINE_enum("shuffle", None, list(config_lib.SHUFFLES),
                  "corpus: batches mix random sentences of the whole corpus; piece: one stretch.")
flags.DEFINE_enum("optimizer", None, list(config_lib.OPTIMIZERS), "Optax optimizer.")
flags.DEFINE_enum("loss", None, list(config_lib.LOSSES), "sigmoid = negative sampling.")
flags.DEFINE_integer("seed", None, "Seed for initialisation, pairs and negatives.")
flags.DEFINE_enum("negatives", None, list(config_lib.NEGATIVES), "Noise distribution.")
flags.DEFINE_enum("standardize", None, list(config_lib.STANDARDIZE), "Text normalisation.")
flags.DEFINE_enum("table_sharding", None, list(config_lib.TABLE_SHARDING),
                  "Across devices: replicate the tables or split them by rows.")
flags.DEFINE_integer("steps_per_call", None, "Steps fused into one jitted call.")
flags.DEFINE_integer("shared_negatives", None,
                     "> 0: one pool of this many negatives shared by each batch (BlazingText).")
flags.DEFINE_bool("negatives_on_host", None,
                  "Draw unigram negatives in the input pipeline rather than in the step.")
flags.DEFINE_integer("log_every", None, "Steps between metric logs.")
flags.DEFINE_integer("checkpoint_every", None, "Steps between checkpoints (0 = end only).")
flags.DEFINE_bool("eval_every_epoch", None, "Evaluate analogies and WordSim after every epoch.")
flags.DEFINE_string("analogies", None, "questions-words.txt-style file (default: bundled).")
flags.DEFINE_string("wordsim", None, "wordsim353.tsv-style file (default: bundled).")
flags.DEFINE_list("show_words", None, "Words whose neighbours are printed at the end.")
flags.DEFINE_bool("progress", None, "Show a progress bar.")
flags.DEFINE_bool("distributed", False,
                  "Call jax.distributed.initialize() first (multi-host; settings from the "
                  "environment, e.g. SLURM or JAX_COORDINATOR_ADDRESS).")

# Flags whose values go into Config unchanged (same name).
_CONFIG_FLAGS = [f.name for f in dataclasses.fields(config_lib.Config)
                 if f.name not in ("corpus", "max_vocab", "show_words")]


def build_config() -> config_lib.Config:
  """The preset, overridden by every flag the user gave."""
  overrides = {name: FLAGS[name].value for name in _CONFIG_FLAGS
               if name in FLAGS and FLAGS[name].present}
  if FLAGS["corpus"].present:
    overrides["corpus"] = tuple(FLAGS.corpus)
  if FLAGS["max_vocab"].present:
    overrides["max_vocab"] = FLAGS.max_vocab or None
  if FLAGS["show_words"].present:
    overrides["show_words"] = tuple(FLAGS.show_words)
  config = dataclasses.replace(config_lib.presets()[FLAGS.preset], **overrides)
  config.validate()
  return config


def main(argv: list[str]) -> int:
  from w2v_jax import text, train  # pylint: disable=import-outside-toplevel

  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if FLAGS.distributed:
    import jax  # pylint: disable=import-outside-toplevel

    jax.distributed.initialize()
  try:
    config = build_config()
  except ValueError as e:
    return _fail(str(e))
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  FLAGS.append_flags_into_file(os.path.join(FLAGS.out_dir, "flags.txt"))

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
    train.write_status(FLAGS.out_dir, "interrupted")
    print("interrupted: stopped without a checkpoint", file=sys.stderr)
    return 128 + (stop["signal"] or signal.SIGINT)
  except train.TrainingDiverged as e:  # status.json already says "diverged".
    return _fail(str(e))
  except (text.CorpusError, ValueError) as e:
    train.write_status(FLAGS.out_dir, "failed", error=str(e))
    return _fail(str(e))
  _print_summary(summary)
  return 0


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
