"""The systems a benchmark compares, each trained in a subprocess of its own that prints JSON.

  python benchmarks/systems.py SYSTEM '{"flags": {...}, "extra": {...}}'

`flags` are w2v_jax's (its Config's flag names): the settings both systems train with. w2v_jax
trains through its run API (`w2v_jax.train.train_and_evaluate`); gensim (`Word2Vec`, or `FastText`
with --subwords) gets the same settings under its own names. A fresh process per run gives each
its own peak RSS and keeps one system's threads and caches from slowing the other. Importing
this module imports no w2v_jax (a step-time worker may load another checkout's).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

# The combinations `--combos` offers: architecture (skip-gram, CBOW) and output layer (negative
# sampling, hierarchical softmax); "sg-ns+hs" trains both.
COMBOS = ("sg-ns", "cbow-ns", "sg-hs", "cbow-hs")
_MODELS = {"sg": "skipgram", "cbow": "cbow"}
# What both systems train with: gensim's and word2vec.c's defaults on raw, normalised text.
SHARED = {"standardize": "none", "window_size": 5, "num_ns": 5, "embedding_dim": 100,
          "subsample": 1e-3, "min_count": 5, "epochs": 5, "learning_rate": 0.025}


def combo_flags(name: str) -> dict:
  """The flags of a combination name ('sg-ns', 'cbow-hs', 'sg-ns+hs')."""
  model, _, output = name.partition("-")
  if model not in _MODELS or output not in ("ns", "hs", "ns+hs"):
    raise ValueError(f"unknown combination {name!r}: choose from {', '.join(COMBOS)}")
  outputs = output.split("+")
  return {"model": _MODELS[model], "hs": "hs" in outputs,
          "num_ns": SHARED["num_ns"] if "ns" in outputs else 0}


def combo_name(config) -> str:
  """'sg-ns', 'cbow-hs', 'sg-ns+hs', ...: the inverse of `combo_flags`."""
  o = config.objective
  model = {v: k for k, v in _MODELS.items()}[o.model]
  return f"{model}-{'+'.join(x for x, on in (('ns', o.num_ns > 0), ('hs', o.hs)) if on)}"


def parse_combos(text: str) -> list[str]:
  """'sg-ns,cbow-hs' -> ['sg-ns', 'cbow-hs']; raises ValueError naming an unknown one."""
  names = [n.strip() for n in text.split(",") if n.strip()]
  if not names:
    raise ValueError(f"no combination in {text!r}: choose from {', '.join(COMBOS)}")
  for name in names:
    combo_flags(name)
  return list(dict.fromkeys(names))


def system_name(base: str, *tags: str) -> str:
  """'gensim', 'gensim[cbow-hs]', 'w2v_jax[word2vec, sg-hs]': `base` and its non-empty tags."""
  tags = tuple(t for t in tags if t)
  return f"{base}[{', '.join(tags)}]" if tags else base


def run_worker(system: str, flags: dict, extra: dict | None = None) -> dict:
  """Trains `system` in a subprocess; returns its JSON report (timings, RSS, scores)."""
  if system == "gensim":
    plain_text(flags["corpus"][0])  # A one-off preparation: made here, outside every clock.
  argv, env = worker_command(system, flags, extra)
  result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
  return worker_report(system, result.returncode, result.stdout, result.stderr)


def worker_command(system: str, flags: dict, extra: dict | None = None
                   ) -> tuple[list[str], dict[str, str]]:
  """The command line and environment of a worker training `system`: this file, run."""
  payload = json.dumps({"flags": flags, "extra": extra or {}})
  env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
  return [sys.executable, os.path.abspath(__file__), system, payload], env


def worker_report(system: str, returncode: int, stdout: str, stderr: str) -> dict:
  """A finished worker's JSON report (its last line); RuntimeError with its stderr if it failed."""
  if returncode != 0:
    raise RuntimeError(f"{system} worker failed:\n{stderr[-3000:]}")
  return json.loads(stdout.strip().splitlines()[-1])


def gensim_workers() -> int:
  """gensim's workers: one per core, as w2v_jax's threads."""
  return os.cpu_count() or 1


def plain_text(path: str) -> str:
  """gensim's corpus_file mode reads uncompressed text: decompress once, next to the input."""
  if not path.endswith(".gz"):
    return path
  import gzip  # pylint: disable=import-outside-toplevel
  import shutil  # pylint: disable=import-outside-toplevel

  out = os.path.join(tempfile.gettempdir(), "w2v_bench_" + os.path.basename(path)[:-3])
  if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(path):
    with gzip.open(path, "rb") as src, open(out + ".tmp", "wb") as dst:
      shutil.copyfileobj(src, dst)
    os.replace(out + ".tmp", out)
  return out


# ---- in the worker ---------------------------------------------------------------------------

def _process_start_time() -> float:
  """When this process started, as a `time.time()`.

  psutil adds the kernel's boot time, which /proc/stat gives in whole seconds (0.35 s off on the
  bench machine), to the start in clock ticks since boot; on Linux, take the boot time from the
  clocks instead.
  """
  import psutil  # pylint: disable=import-outside-toplevel

  created = psutil.Process().create_time()
  if not sys.platform.startswith("linux"):
    return created
  since_boot = created - psutil.boot_time()
  return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME) + since_boot


def finish_report(report: dict, epochs: int, written_time: float | None) -> dict:
  """Adds the whole-process time (start to vectors written), the OOV-wrong accuracy and peak RSS."""
  whole = None if written_time is None else written_time - _process_start_time()
  report["whole_seconds"] = whole
  report["whole_words_per_sec"] = report["raw_words"] * epochs / whole if whole else None
  # Comparable across vocabularies: out-of-vocabulary questions count as wrong.
  report["analogy_all"] = report["analogy_correct"] / max(
      report["analogy_total"] + report["analogy_oov"], 1)
  report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
  return report


def gensim_worker(flags: dict, extra: dict) -> dict:
  """gensim Word2Vec (FastText with --subwords); train time excludes the vocabulary, whole time
  is start to vectors written.

  mode "corpus_file" (default) is gensim's fastest, but its learning rate does not follow the
  linear schedule (`gensim_corpus_file_schedule` reproduces it): with 2 workers it ends at 0.0025
  instead of 0.025e-4. mode "iterable" (a LineSentence stream) decays linearly as asked.
  """
  from gensim.models import FastText, Word2Vec  # pylint: disable=import-outside-toplevel
  from gensim.models.word2vec import LineSentence  # pylint: disable=import-outside-toplevel

  from w2v_jax import config as config_lib  # pylint: disable=import-outside-toplevel

  config = config_lib.from_flat(flags)
  o, e, r = config.objective, config.examples, config.run
  mode = extra.get("mode", "corpus_file")
  path = plain_text(config.corpus.corpus[0])
  source = ({"corpus_file": path} if mode == "corpus_file"
            else {"corpus_iterable": LineSentence(path)})
  lr = config.optimizer.learning_rate
  shared = dict(vector_size=o.embedding_dim, window=e.window_size,
                sg=int(o.model == "skipgram"), hs=int(o.hs), negative=o.num_ns, cbow_mean=1,
                min_count=config.corpus.min_count, sample=e.subsample, alpha=lr,
                min_alpha=lr * config.optimizer.min_learning_rate_ratio,
                workers=gensim_workers(), epochs=r.epochs, seed=r.seed)
  if o.subwords:
    model = FastText(min_n=o.minn, max_n=o.maxn, bucket=o.bucket, **shared)
  else:
    model = Word2Vec(**shared)
  t0 = time.perf_counter()
  model.build_vocab(**source)
  vocab_seconds = time.perf_counter() - t0
  t0 = time.perf_counter()
  model.train(**source, total_examples=model.corpus_count,
              total_words=model.corpus_total_words, epochs=r.epochs)
  seconds = time.perf_counter() - t0
  kv = model.wv
  with tempfile.TemporaryDirectory(prefix="w2v_bench_gensim_") as out:
    kv.save_word2vec_format(os.path.join(out, "vectors.txt"), binary=False)
    written_time = time.time()
  combo = combo_name(config)
  report = {"system": system_name("gensim", "" if combo == "sg-ns" else combo,
                                  "" if mode == "corpus_file" else mode,
                                  "FastText" if o.subwords else ""),
            "combo": combo, "train_seconds": seconds, "vocab_seconds": vocab_seconds,
            "raw_words": model.corpus_total_words, "vocab_size": len(kv.index_to_key),
            "words_per_sec": model.corpus_total_words * r.epochs / seconds}
  report.update(_evaluate(list(kv.index_to_key), kv.vectors))
  if o.subwords:  # Words outside the vocabulary through n-grams, as w2v_jax's eval/*_subwords_*.
    report.update(_through_subwords(kv))
  return finish_report(report, r.epochs, written_time)


def _evaluate(words: list[str], vectors) -> dict:
  from w2v_jax import evaluate  # pylint: disable=import-outside-toplevel

  return {k.split("/", 1)[1]: v for k, v in evaluate.evaluate_vectors(words, vectors).items()}


def _through_subwords(kv) -> dict:
  from w2v_jax import evaluate  # pylint: disable=import-outside-toplevel

  def vector_of(word):
    vector = kv.get_vector(word)  # gensim composes a word outside its vocabulary from n-grams.
    return vector if np.any(vector) else None  # All zeros: it has none.

  sim, sim_outside = evaluate.word_similarity_any(
      vector_of, kv.key_to_index, evaluate.default_eval_path("wordsim353.tsv"))
  analogy, analogy_outside = evaluate.analogy_accuracy_any(
      list(kv.index_to_key), kv.vectors, vector_of,
      evaluate.default_eval_path("questions-words.txt"))
  return {**{f"wordsim_subwords_{k.split('_', 1)[1]}": v for k, v in sim.as_dict().items()},
          "wordsim_subwords_outside": sim_outside,
          **{f"analogy_subwords_{k.split('_', 1)[1]}": v for k, v in analogy.as_dict().items()},
          "analogy_subwords_outside": analogy_outside}


def gensim_corpus_file_schedule(learning_rate: float, total_steps: int, epochs: int,
                                workers: int, min_ratio: float = 1e-4):
  """The learning rate of gensim `corpus_file` mode, as an Optax schedule over the run's steps.

  Each of the `workers` workers reads 1/workers of the corpus but measures its progress against
  all of it (`get_next_alpha` in word2vec_corpusfile.pyx), so within an epoch alpha falls 1/workers
  of the way the linear schedule says, and jumps at the next epoch.
  """
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  end, per_epoch = learning_rate * min_ratio, max(total_steps, 1) / epochs

  def schedule(count):
    epoch = jnp.floor(count / per_epoch)
    progress = (epoch + (count / per_epoch - epoch) / workers) / epochs
    return jnp.maximum(end, learning_rate - (learning_rate - end) * progress)

  return schedule


def _with_rule(objective, changes: dict):
  """`objective` (a built-in `Word2Vec`) whose kernel rule has `changes`."""
  import dataclasses  # pylint: disable=import-outside-toplevel

  rule = dataclasses.replace(objective.fused(), **changes)

  class Variant(type(objective)):
    def fused(self):
      return rule

  return Variant(objective.encoder, objective.heads, objective.subwords)


def held_schedule(schedule, hold: int):
  """`schedule` held for `hold` steps at a time: its value at the first step of each hold."""
  return lambda count: schedule(count - count % hold)


def w2v_jax_worker(flags: dict, extra: dict) -> dict:
  """w2v_jax's whole run through its API; train time excludes the corpus encoding and
  vocabulary.

  extra "preset": "seed" trains the notebook's recipe (only the corpus, epochs and seed shared);
  "schedule": "gensim_corpus_file" trains with gensim corpus_file's effective learning rate (an
  SGD transform of our own, passed to the run) instead of the linear decay; "held:K" with the
  linear decay held for K steps at a time (K = 3: the rate moves every ~12k tokens, as coarsely as
  word2vec.c's and gensim's per-10k-words updates, where a step is 4,096 tokens). "rule": {field:
  value} trains the fused step with the objective's kernel rule so changed (`rules.Rule`'s fields,
  e.g. {"per_pair": true} for CBOW with each output row updated as it goes): a variant to measure,
  not a setting of the CLI.
  """
  import optax  # pylint: disable=import-outside-toplevel

  from w2v_jax import config as config_lib  # pylint: disable=import-outside-toplevel
  from w2v_jax import devices, objectives, train  # pylint: disable=import-outside-toplevel
  from w2v_jax import step as step_lib  # pylint: disable=import-outside-toplevel

  preset = extra.get("preset", "word2vec")
  quiet = {"progress": False, "checkpoint_every": 0, "log_every": 10**9}
  if preset == "seed":  # The seed keeps its own recipe.
    flags = {k: flags[k] for k in ("corpus", "seed")} | {"epochs": extra.get("epochs", 80)}
  config = config_lib.from_flat({**flags, **quiet, **extra.get("flags", {})},
                                base=config_lib.presets()[preset])
  tx = None
  if extra.get("schedule") == "gensim_corpus_file":
    lr, epochs = config.optimizer.learning_rate, config.run.epochs
    workers, ratio = gensim_workers(), config.optimizer.min_learning_rate_ratio

    def tx(total_steps: int) -> optax.GradientTransformation:
      return optax.sgd(gensim_corpus_file_schedule(lr, total_steps, epochs, workers, ratio))

  elif str(extra.get("schedule", "")).startswith("held:"):
    hold, settings = int(extra["schedule"].split(":", 1)[1]), config.optimizer

    def tx(total_steps: int) -> optax.GradientTransformation:
      return optax.sgd(held_schedule(step_lib.schedule(settings, total_steps), hold))

  objective = None
  if extra.get("rule"):
    objective = _with_rule(objectives.for_run(config), extra["rule"])
  if (tx is not None or objective is not None) and config.devices.step == "auto":
    # SGD: the fused step trains it as the built-in one.
    config = config.replace(step="fused")
  devices.use_host_devices(config.devices.replicas)  # As experiments.train does.
  # The run's files (vectors, checkpoint, cache: ~300 MB on the bench corpus) are not kept.
  with tempfile.TemporaryDirectory(prefix="w2v_bench_") as workdir:
    summary = train.train_and_evaluate(config, workdir, tx=tx, objective=objective)
  combo = None if preset == "seed" else combo_name(config)
  report = {"system": system_name("w2v_jax", preset, "" if combo in (None, "sg-ns") else combo,
                                  "subwords" if config.objective.subwords else ""),
            "combo": combo, "step": summary["step"], "threads": summary.get("threads"),
            "train_seconds": summary["train_seconds"], "vocab_seconds": summary["setup_seconds"],
            "raw_words": summary["raw_words"], "vocab_size": summary["vocab_size"],
            "words_per_sec": summary["words_per_sec"], "pairs_per_sec": summary["pairs_per_sec"],
            "pairs": summary["pairs_per_sec"] * summary["train_seconds"],
            "input_wait_fraction": summary["input_wait_fraction"],
            "replicas": summary["replicas"], "sync_every": config.devices.sync_every,
            "merge": config.devices.merge}
  report.update({k.split("/", 1)[1]: v for k, v in summary.items() if k.startswith("eval/")})
  return finish_report(report, config.run.epochs, summary.get("vectors_written_time"))


WORKERS = {"gensim": gensim_worker, "w2v_jax": w2v_jax_worker}


if __name__ == "__main__":
  args = json.loads(sys.argv[2])
  print(json.dumps(WORKERS[sys.argv[1]](args["flags"], args["extra"])))
