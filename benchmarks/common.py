"""Shared benchmark machinery: each system trains in its own subprocess and reports JSON.

Running every system in a fresh process gives each its own peak RSS and keeps one system's
threads and caches from slowing the other. `python benchmarks/common.py SYSTEM '{json}'` is the
worker; `run_worker` is how the benchmark scripts call it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The combinations `--combos` offers: architecture (skip-gram, CBOW) and output layer (negative
# sampling, hierarchical softmax). combo_settings also reads "sg-ns+hs", which trains both.
COMBOS = ("sg-ns", "cbow-ns", "sg-hs", "cbow-hs")
_MODELS = {"sg": "skipgram", "cbow": "cbow"}


@dataclasses.dataclass(frozen=True)
class Settings:
  """The shared hyperparameters (gensim's and word2vec.c's defaults)."""

  corpus: str
  model: str = "skipgram"  # Or "cbow".
  hs: bool = False  # Hierarchical softmax; num_ns may then be 0.
  window_size: int = 5
  num_ns: int = 5
  embedding_dim: int = 100
  subsample: float = 1e-3
  min_count: int = 5
  epochs: int = 5
  learning_rate: float = 0.025
  seed: int = 1
  workers: int = os.cpu_count() or 1
  # fastText subwords: gensim `FastText` against w2v_jax `--subwords`.
  subwords: bool = False
  minn: int = 3
  maxn: int = 6
  bucket: int = 2_000_000


def add_subword_args(parser) -> None:
  """--subwords and its n-gram settings, for the benchmarks that compare with gensim FastText."""
  parser.add_argument("--subwords", action="store_true",
                      help="fastText subwords: w2v_jax --subwords against gensim FastText")
  parser.add_argument("--minn", type=int, default=Settings.minn)
  parser.add_argument("--maxn", type=int, default=Settings.maxn)
  parser.add_argument("--bucket", type=int, default=Settings.bucket)


def subword_settings(args) -> dict:
  """The Settings fields `add_subword_args` flags give."""
  return {"subwords": args.subwords, "minn": args.minn, "maxn": args.maxn, "bucket": args.bucket}


def combo_name(s: Settings) -> str:
  """'sg-ns', 'cbow-hs', 'sg-ns+hs', ...: the architecture and the output layer(s) of `s`."""
  model = {v: k for k, v in _MODELS.items()}.get(s.model)
  if model is None:
    raise ValueError(f"model {s.model!r}: must be one of {', '.join(_MODELS.values())}")
  if s.num_ns < 0 or not (s.num_ns or s.hs):
    raise ValueError(f"num_ns={s.num_ns}, hs={s.hs}: needs num_ns >= 1, or hs with num_ns >= 0")
  outputs = []
  if s.num_ns > 0:
    outputs.append("ns")
  if s.hs:
    outputs.append("hs")
  return f"{model}-{'+'.join(outputs)}"


def combo_settings(name: str) -> dict:
  """The Settings fields of a combination name: the inverse of `combo_name`."""
  model, _, output = name.partition("-")
  if model not in _MODELS or output not in ("ns", "hs", "ns+hs"):
    raise ValueError(f"unknown combination {name!r}: choose from {', '.join(COMBOS)}")
  outputs = output.split("+")
  return {"model": _MODELS[model], "hs": "hs" in outputs,
          "num_ns": Settings.num_ns if "ns" in outputs else 0}


def parse_combos(text: str) -> list[str]:
  """'sg-ns,cbow-hs' -> ['sg-ns', 'cbow-hs']; raises ValueError naming an unknown one."""
  names = [n.strip() for n in text.split(",") if n.strip()]
  if not names:
    raise ValueError(f"no combination in {text!r}: choose from {', '.join(COMBOS)}")
  for name in names:
    combo_settings(name)
  return list(dict.fromkeys(names))


def machine_info() -> dict:
  """The CPU model and core count, recorded beside every result."""
  model = ""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      model = next((line.split(":", 1)[1].strip() for line in f
                    if line.startswith("model name")), "")
  except OSError:
    pass
  return {"cpu_model": model or platform.processor() or "unknown", "cores": os.cpu_count(),
          "platform": platform.platform()}


def describe_machine(info: dict) -> str:
  return f"{info['cpu_model']}, {info['cores']} cores"


TRAINER_ARGS = (("step", str, "w2v_jax: auto, fused or generic"),
                ("threads", int, "w2v_jax: fused step threads (0: the cores)"),
                ("replicas", int, "w2v_jax: replicas (default 1; 0: one per core)"),
                ("sync_every", int, "w2v_jax: steps between replica merges"),
                ("merge", str, "w2v_jax: sum or mean"),
                ("batch_size", int, "w2v_jax: examples per step (per replica)"),
                ("steps_per_call", int, "w2v_jax: steps per jitted call"))


def add_trainer_args(parser) -> None:
  """Flags that set w2v_jax Config fields in every w2v_jax run of a benchmark."""
  for name, kind, help_text in TRAINER_ARGS:
    parser.add_argument(f"--{name}", type=kind, default=None, help=help_text)


def trainer_extra(args) -> dict:
  """The Config overrides given by `add_trainer_args` flags."""
  return {name: getattr(args, name) for name, _, _ in TRAINER_ARGS
          if getattr(args, name) is not None}


def run_worker(system: str, settings: Settings, extra: dict | None = None) -> dict:
  """Trains `system` in a subprocess; returns its JSON report (timings, RSS, scores)."""
  if system == "gensim":
    _plain_text(settings.corpus)  # A one-off preparation: made here, outside every clock.
  payload = json.dumps({"settings": dataclasses.asdict(settings), "extra": extra or {}})
  env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
  result = subprocess.run([sys.executable, os.path.abspath(__file__), system, payload],
                          capture_output=True, text=True, env=env, check=False)
  if result.returncode != 0:
    raise RuntimeError(f"{system} worker failed:\n{result.stderr[-3000:]}")
  return json.loads(result.stdout.strip().splitlines()[-1])


class Job(NamedTuple):
  """One system trained with one combination; `label` names its runs in the results."""

  combo: str
  label: str
  worker: str
  extra: dict


def run_jobs(jobs: list[Job], base: Settings, repeats: int) -> dict[str, dict[str, list[dict]]]:
  """Reports by combination and label; repeat r uses seed r + 1, every other one in reverse order.

  Alternating the order makes drift in the machine's load hit every job alike.
  """
  runs: dict[str, dict[str, list[dict]]] = {}
  for job in jobs:
    runs.setdefault(job.combo, {})[job.label] = []
  for r in range(repeats):
    for job in jobs if r % 2 == 0 else jobs[::-1]:
      print(f"[{r + 1}/{repeats}] training {job.label} ({job.combo}) ...", file=sys.stderr,
            flush=True)
      settings = dataclasses.replace(base, seed=r + 1, **combo_settings(job.combo))
      runs[job.combo][job.label].append(run_worker(job.worker, settings, job.extra))
  return runs


def _peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


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
  report["peak_rss_mb"] = _peak_rss_mb()
  return report


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


def system_name(base: str, *tags: str) -> str:
  """'gensim', 'gensim[cbow-hs]', 'w2v_jax[word2vec, sg-hs]': `base` and its non-empty tags."""
  tags = tuple(t for t in tags if t)
  return f"{base}[{', '.join(tags)}]" if tags else base


def gensim_worker(s: Settings, extra: dict) -> dict:
  """gensim Word2Vec; train time excludes the vocabulary, whole time is start to vectors written.

  mode "corpus_file" (default) is gensim's fastest, but its learning rate does not follow the
  linear schedule (`gensim_corpus_file_schedule` reproduces it): with 2 workers it ends at 0.0025
  instead of 0.025e-4. mode "iterable" (a LineSentence stream) decays linearly as asked.
  """
  from gensim.models import FastText, Word2Vec  # pylint: disable=import-outside-toplevel
  from gensim.models.word2vec import LineSentence  # pylint: disable=import-outside-toplevel

  mode = extra.get("mode", "corpus_file")
  path = _plain_text(s.corpus)
  source = ({"corpus_file": path} if mode == "corpus_file"
            else {"corpus_iterable": LineSentence(path)})
  shared = dict(vector_size=s.embedding_dim, window=s.window_size,
                sg=1 if s.model == "skipgram" else 0, hs=int(s.hs), negative=s.num_ns,
                cbow_mean=1, min_count=s.min_count, sample=s.subsample, alpha=s.learning_rate,
                min_alpha=s.learning_rate * 1e-4, workers=s.workers, epochs=s.epochs,
                seed=s.seed)
  if s.subwords:
    model = FastText(min_n=s.minn, max_n=s.maxn, bucket=s.bucket, **shared)
  else:
    model = Word2Vec(**shared)
  t0 = time.perf_counter()
  model.build_vocab(**source)
  vocab_seconds = time.perf_counter() - t0
  t0 = time.perf_counter()
  model.train(**source, total_examples=model.corpus_count,
              total_words=model.corpus_total_words, epochs=s.epochs)
  seconds = time.perf_counter() - t0
  kv = model.wv
  with tempfile.TemporaryDirectory(prefix="w2v_bench_gensim_") as out:
    kv.save_word2vec_format(os.path.join(out, "vectors.txt"), binary=False)
    written_time = time.time()
  combo = combo_name(s)
  report = {"system": system_name("gensim", "" if combo == "sg-ns" else combo,
                                  "" if mode == "corpus_file" else mode,
                                  "FastText" if s.subwords else ""),
            "combo": combo, "train_seconds": seconds, "vocab_seconds": vocab_seconds,
            "raw_words": model.corpus_total_words, "vocab_size": len(kv.index_to_key),
            "words_per_sec": model.corpus_total_words * s.epochs / seconds}
  report.update(_evaluate(list(kv.index_to_key), kv.vectors))
  if s.subwords:  # Words outside the vocabulary through n-grams, as w2v_jax's eval/*_subwords_*.
    report.update(_through_subwords(kv))
  return finish_report(report, s.epochs, written_time)


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
  """w2v_jax's full training loop; train time excludes the corpus encoding and vocabulary.

  extra "schedule": "gensim_corpus_file" trains with gensim corpus_file's effective learning rate
  instead of the linear decay, to test that the schedule explains the two systems' difference. It
  is an experiment, so it replaces the library's schedule in this worker process only.
  """
  from w2v_jax import config as config_lib  # pylint: disable=import-outside-toplevel
  from w2v_jax import placement  # pylint: disable=import-outside-toplevel
  from w2v_jax import step as step_lib  # pylint: disable=import-outside-toplevel
  from w2v_jax import train  # pylint: disable=import-outside-toplevel

  if extra.pop("schedule", "linear") == "gensim_corpus_file":
    step_lib.make_schedule = gensim_corpus_file_schedule(s.workers, s.epochs)
  preset = extra.pop("preset", "word2vec")
  overrides = dict(corpus=(s.corpus,), standardize="none", model=s.model, hs=s.hs,
                   num_ns=s.num_ns, window_size=s.window_size, embedding_dim=s.embedding_dim,
                   subsample=s.subsample, min_count=s.min_count, epochs=s.epochs,
                   learning_rate=s.learning_rate, seed=s.seed, progress=False,
                   checkpoint_every=0, log_every=10**9, subwords=s.subwords, minn=s.minn,
                   maxn=s.maxn, bucket=s.bucket)
  if preset == "seed":  # The seed keeps its own recipe; only the corpus and epochs are shared.
    overrides = dict(corpus=(s.corpus,), epochs=extra.pop("epochs", s.epochs), progress=False,
                     checkpoint_every=0, log_every=10**9, seed=s.seed)
  config = dataclasses.replace(config_lib.presets()[preset], **{**overrides, **extra})
  placement.use_host_devices(config.replicas)  # As experiments.train does.
  # The run's files (vectors, checkpoint, cache: ~300 MB on the bench corpus) are not kept.
  with tempfile.TemporaryDirectory(prefix="w2v_bench_") as workdir:
    summary = train.train_and_evaluate(config, workdir)
  combo = None if preset == "seed" else combo_name(s)
  report = {"system": system_name("w2v_jax", preset, "" if combo in (None, "sg-ns") else combo,
                                  "subwords" if config.subwords else ""),
            "combo": combo, "train_seconds": summary["train_seconds"],
            "vocab_seconds": summary["setup_seconds"], "raw_words": summary["raw_words"],
            "vocab_size": summary["vocab_size"], "words_per_sec": summary["words_per_sec"],
            "pairs_per_sec": summary["pairs_per_sec"],
            "pairs": summary["pairs_per_sec"] * summary["train_seconds"],
            "input_wait_fraction": summary["input_wait_fraction"],
            "replicas": summary["replicas"], "sync_every": config.sync_every,
            "merge": config.merge}
  report.update({k.split("/", 1)[1]: v for k, v in summary.items() if k.startswith("eval/")})
  return finish_report(report, config.epochs, summary.get("vectors_written_time"))


WORKERS = {"gensim": gensim_worker, "w2v_jax": w2v_jax_worker}


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


def write_json(path: str, obj) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump(obj, f, indent=2)
  os.replace(path + ".tmp", path)


if __name__ == "__main__":
  args = json.loads(sys.argv[2])
  out = WORKERS[sys.argv[1]](Settings(**args["settings"]), args["extra"])
  print(json.dumps(out))
