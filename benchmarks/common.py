"""Shared benchmark machinery: each system trains in its own subprocess and reports JSON.

Running every system in a fresh process gives each its own peak RSS and keeps one system's
threads and caches from slowing the other. `python benchmarks/common.py SYSTEM '{json}'` is the
worker; `run_worker` is how the benchmark scripts call it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Settings:
  """The shared hyperparameters (gensim's and word2vec.c's defaults)."""

  corpus: str
  window_size: int = 5
  num_ns: int = 5
  embedding_dim: int = 100
  subsample: float = 1e-3
  min_count: int = 5
  epochs: int = 5
  learning_rate: float = 0.025
  seed: int = 1
  workers: int = os.cpu_count() or 1


def run_worker(system: str, settings: Settings, extra: dict | None = None) -> dict:
  """Trains `system` in a subprocess; returns its JSON report (timings, RSS, scores)."""
  payload = json.dumps({"settings": dataclasses.asdict(settings), "extra": extra or {}})
  env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
  result = subprocess.run([sys.executable, os.path.abspath(__file__), system, payload],
                          capture_output=True, text=True, env=env, check=False)
  if result.returncode != 0:
    raise RuntimeError(f"{system} worker failed:\n{result.stderr[-3000:]}")
  return json.loads(result.stdout.strip().splitlines()[-1])


def _peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _evaluate(words: list[str], vectors) -> dict:
  from w2v_jax import evaluate  # pylint: disable=import-outside-toplevel

  scores = {}
  scores.update(evaluate.analogy_accuracy(
      words, vectors, evaluate.default_eval_path("questions-words.txt")).as_dict())
  scores.update(evaluate.word_similarity(
      words, vectors, evaluate.default_eval_path("wordsim353.tsv")).as_dict())
  return scores


def _plain_text(path: str) -> str:
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


def gensim_worker(s: Settings, extra: dict) -> dict:
  """gensim Word2Vec (skip-gram); vocabulary time excluded.

  mode "corpus_file" (default) is gensim's fastest, but its learning rate does not follow the
  linear schedule (`gensim_corpus_file_schedule` reproduces it): with 2 workers it ends at 0.0025
  instead of 0.025e-4. mode "iterable" (a LineSentence stream) decays linearly as asked.
  """
  from gensim.models import Word2Vec  # pylint: disable=import-outside-toplevel
  from gensim.models.word2vec import LineSentence  # pylint: disable=import-outside-toplevel

  mode = extra.get("mode", "corpus_file")
  path = _plain_text(s.corpus)
  source = {"corpus_file": path} if mode == "corpus_file" else {"corpus_iterable": LineSentence(path)}
  model = Word2Vec(vector_size=s.embedding_dim, window=s.window_size, negative=s.num_ns, sg=1,
                   hs=0, min_count=s.min_count, sample=s.subsample, alpha=s.learning_rate,
                   min_alpha=s.learning_rate * 1e-4, workers=s.workers, epochs=s.epochs,
                   seed=s.seed)
  t0 = time.perf_counter()
  model.build_vocab(**source)
  vocab_seconds = time.perf_counter() - t0
  t0 = time.perf_counter()
  model.train(**source, total_examples=model.corpus_count,
              total_words=model.corpus_total_words, epochs=s.epochs)
  seconds = time.perf_counter() - t0
  kv = model.wv
  report = {"system": "gensim" if mode == "corpus_file" else f"gensim[{mode}]",
            "train_seconds": seconds, "vocab_seconds": vocab_seconds,
            "raw_words": model.corpus_total_words, "vocab_size": len(kv.index_to_key),
            "words_per_sec": model.corpus_total_words * s.epochs / seconds}
  report.update(_evaluate(list(kv.index_to_key), kv.vectors))
  report["peak_rss_mb"] = _peak_rss_mb()
  return report


def gensim_corpus_file_schedule(workers: int, epochs: int):
  """A `step.make_schedule` that reproduces gensim `corpus_file` mode's effective learning rate.

  Each of the `workers` workers reads 1/workers of the corpus but measures its progress against
  all of it (`get_next_alpha` in word2vec_corpusfile.pyx), so within an epoch alpha falls 1/workers
  of the way the linear schedule says, and jumps at the next epoch.
  """
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  def make_schedule(learning_rate, total_steps, min_ratio=1e-4, linear_decay=True):
    del linear_decay
    end, per_epoch = learning_rate * min_ratio, max(total_steps, 1) / epochs

    def schedule(count):
      epoch = jnp.floor(count / per_epoch)
      progress = (epoch + (count / per_epoch - epoch) / workers) / epochs
      return jnp.maximum(end, learning_rate - (learning_rate - end) * progress)

    return schedule

  return make_schedule


def w2v_jax_worker(s: Settings, extra: dict) -> dict:
  """w2v_jax's full training loop; corpus encoding and vocabulary time excluded.

  extra "schedule": "gensim_corpus_file" trains with gensim corpus_file's effective learning rate
  instead of the linear decay, to test that the schedule explains the two systems' difference. It
  is an experiment, so it replaces the library's schedule in this worker process only.
  """
  from w2v_jax import config as config_lib  # pylint: disable=import-outside-toplevel
  from w2v_jax import step as step_lib  # pylint: disable=import-outside-toplevel
  from w2v_jax import train  # pylint: disable=import-outside-toplevel

  if extra.pop("schedule", "linear") == "gensim_corpus_file":
    step_lib.make_schedule = gensim_corpus_file_schedule(s.workers, s.epochs)
  preset = extra.pop("preset", "word2vec")
  overrides = dict(corpus=(s.corpus,), standardize="none", window_size=s.window_size,
                   num_ns=s.num_ns, embedding_dim=s.embedding_dim, subsample=s.subsample,
                   min_count=s.min_count, epochs=s.epochs, learning_rate=s.learning_rate,
                   seed=s.seed, progress=False, checkpoint_every=0, log_every=10**9)
  if preset == "seed":  # The seed keeps its own recipe; only the corpus and epochs are shared.
    overrides = dict(corpus=(s.corpus,), epochs=extra.pop("epochs", s.epochs), progress=False,
                     checkpoint_every=0, log_every=10**9, seed=s.seed)
  config = dataclasses.replace(config_lib.presets()[preset], **{**overrides, **extra})
  # The run's files (vectors, checkpoint, cache: ~300 MB on the bench corpus) are not kept.
  with tempfile.TemporaryDirectory(prefix="w2v_bench_") as workdir:
    summary = train.train_and_evaluate(config, workdir)
  report = {"system": f"w2v_jax[{preset}]", "train_seconds": summary["train_seconds"],
            "vocab_seconds": summary["setup_seconds"], "raw_words": summary["raw_words"],
            "vocab_size": summary["vocab_size"], "words_per_sec": summary["words_per_sec"],
            "pairs_per_sec": summary["pairs_per_sec"],
            "pairs": summary["pairs_per_sec"] * summary["train_seconds"],
            "input_wait_fraction": summary["input_wait_fraction"]}
  report.update({k.split("/", 1)[1]: v for k, v in summary.items() if k.startswith("eval/")})
  report["peak_rss_mb"] = _peak_rss_mb()
  return report


WORKERS = {"gensim": gensim_worker, "w2v_jax": w2v_jax_worker}


def ratio(a: float | None, b: float | None) -> str:
  if a is None or b is None or b == 0:
    return "-"
  return f"{a / b:.2f}x"


def write_json(path: str, obj) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump(obj, f, indent=2)
  os.replace(path + ".tmp", path)


if __name__ == "__main__":
  args = json.loads(sys.argv[2])
  out = WORKERS[sys.argv[1]](Settings(**args["settings"]), args["extra"])
  print(json.dumps(out))
