r"""Training throughput of w2v_jax against gensim, side by side, plus step time against vocab size.

  python benchmarks/throughput.py --corpus ../shared/data/bench-corpus.txt.gz --repeats 3
  python benchmarks/throughput.py --corpus ../shared/data/bench-corpus.txt.gz --repeats 3 \
      --combos sg-ns,cbow-ns,sg-hs,cbow-hs
  python benchmarks/throughput.py --corpus ../shared/data/small-corpus.txt.gz --epochs 1 --no_gensim
  python benchmarks/throughput.py --steps_only --json benchmarks/results/step_time.json
  python benchmarks/throughput.py --corpus ../shared/data/bench-corpus.txt.gz \
      --kernel_baseline COMMIT --combos sg-ns,cbow-ns,sg-hs,cbow-hs

For each combination in --combos (skip-gram or CBOW, with 5 negatives, or hierarchical softmax and
no negatives; default sg-ns), each system trains in its own subprocess (own peak RSS), the two
alternating when --repeats > 1 so machine noise hits both. Two times: the training passes only
(w2v_jax: the loop including jit compilation and the input pipeline; gensim: `train()`; vocabulary
building and corpus encoding excluded for both), and the whole process, from its start to the
vectors written (what a user waits for; gensim's plain-text copy of a .gz corpus is made
beforehand). Both are evaluated with w2v_jax's evaluator. Also measures the JAX floor (the peak RSS
of JAX, the two tables and one compiled step, nothing else) and the step alone, on synthetic
Zipf batches at V = 50,000: the per-pair step of commit fb504b7 (from `git archive`) against the
generic step in per-pair and window layouts, skip-gram and CBOW, negatives and hierarchical
softmax, each in fresh subprocesses that take turns; and the default step's time at two vocabulary
sizes (flat: it touches only the batch's rows). If any of these fails, the comparison is still
printed and saved. Prints tables and writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import statistics
import importlib
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import jobs as jobs_lib  # pylint: disable=wrong-import-position
from benchmarks import systems, tables  # pylint: disable=wrong-import-position


def write_json(path: str, results: dict) -> None:
  # Imported here: the step-time workers import this module before another checkout's w2v_jax.
  from w2v_jax import io_utils  # pylint: disable=import-outside-toplevel

  io_utils.atomic_write_json(path, results)


STEP_VOCAB = 50_000  # The bench corpus' vocabulary.
STEP_DIM = 100
STEP_NUM_NS = 5
PATH_LENGTH = 20  # Hierarchical softmax: nodes per path, 10 to 20 of them real.
WINDOW_FILL = 0.55  # Valid share of 2 x 5 slots with word2vec's dynamic window and sentence ends.
OLD_STEP_COMMIT = "fb504b7"  # The per-pair step the generic step replaced.
# Layout: (examples per step, context slots per example), the trainer's defaults.
LAYOUTS = {"pairs": (1024, 1), "windows": (128, 10)}


@dataclasses.dataclass(frozen=True)
class StepVariant:
  """A step to time: the generic step with one objective, or the old per-pair step."""

  layout: str  # A key of LAYOUTS.
  model: str = "skipgram"
  hs: bool = False  # Hierarchical softmax and no negatives; else 5 negatives per example.
  old: bool = False  # OLD_STEP_COMMIT's per-pair step, run from that commit's w2v_jax/.

  @property
  def name(self) -> str:
    model = {"skipgram": "sg", "cbow": "cbow"}[self.model]
    return f"{'old-' if self.old else ''}{model}{'-hs' if self.hs else ''}-{self.layout}"

  @property
  def num_ns(self) -> int:
    return 0 if self.hs else STEP_NUM_NS


STEP_VARIANTS = {v.name: v for v in (
    StepVariant("pairs", old=True), StepVariant("pairs"), StepVariant("windows"),
    StepVariant("windows", "cbow"), StepVariant("windows", hs=True),
    StepVariant("windows", "cbow", hs=True))}
OLD_VARIANT = "old-sg-pairs"
DEFAULT_VARIANT = "sg-pairs"  # What the trainer runs for sg-ns.


def _zipf_ids(rng: np.random.Generator, size: int, shape: tuple[int, ...]) -> np.ndarray:
  return (np.minimum(rng.zipf(1.2, shape), size) - 1).astype(np.int32)


def make_step_batches(variant: StepVariant, steps: int, vocab_size: int) -> dict[str, np.ndarray]:
  """[steps, B, ...] batches of the generic step, Zipf ids; the same windows for every variant."""
  rng = np.random.default_rng(0)
  batch_size, slots = LAYOUTS[variant.layout]
  shape = (steps, batch_size)
  fill = WINDOW_FILL if slots > 1 else 1.0
  batches = {"centres": _zipf_ids(rng, vocab_size, shape),
             "contexts": _zipf_ids(rng, vocab_size, (*shape, slots)),
             "mask": (rng.random((*shape, slots)) < fill).astype(np.float32)}
  if variant.num_ns:  # Per window, as the input pipeline draws them.
    batches["negatives"] = _zipf_ids(rng, vocab_size, (*shape, variant.num_ns))
  if variant.hs:  # Random paths through a tree of vocab_size - 1 nodes.
    lengths = rng.integers(PATH_LENGTH // 2, PATH_LENGTH + 1, (*shape, 1))
    batches["points"] = _zipf_ids(rng, vocab_size - 1, (*shape, PATH_LENGTH))
    batches["codes"] = rng.integers(0, 2, (*shape, PATH_LENGTH)).astype(np.float32)
    batches["path_mask"] = (np.arange(PATH_LENGTH) < lengths).astype(np.float32)
  return batches


def old_step_batches(batches: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """The old step's pairs: a window's one slot is the target, its centre the context."""
  return {"targets": batches["contexts"][..., 0], "contexts": batches["centres"],
          "mask": batches["mask"][..., 0], "negatives": batches["negatives"]}


def _import_step(w2v_path: str | None):
  """`w2v_jax.step`: this checkout's, or the copy of w2v_jax/ in w2v_path."""
  if w2v_path is None:
    return importlib.import_module("w2v_jax.step")
  if "w2v_jax" in sys.modules:
    raise RuntimeError("the old step needs a fresh interpreter: w2v_jax is already imported")
  sys.path.insert(0, w2v_path)
  step_lib = importlib.import_module("w2v_jax.step")
  if not os.path.abspath(step_lib.__file__).startswith(os.path.abspath(w2v_path) + os.sep):
    raise RuntimeError(f"imported {step_lib.__file__}, not the copy in {w2v_path}")
  return step_lib


def _make_runner(step_lib, variant: StepVariant, vocab_size: int):
  """The jitted `train_steps` of `variant` and its initial state."""
  import jax  # pylint: disable=import-outside-toplevel

  tx = step_lib.make_optimizer("sgd", 0.025, 10**7)
  key = jax.random.PRNGKey(0)
  if variant.old:
    state = step_lib.create_train_state(key, vocab_size, STEP_DIM, tx, None)
    bound = {"settings": step_lib.StepSettings()}
  else:
    from w2v_jax import objectives  # pylint: disable=import-outside-toplevel

    # A --baseline checkout may predate objectives.word2vec (its Word2Vec took these names).
    family = getattr(objectives, "word2vec", None) or objectives.Word2Vec
    objective = family(model=variant.model, hs=variant.hs, num_ns=variant.num_ns)
    state = step_lib.create_train_state(key, objective.tables(vocab_size), STEP_DIM, tx)
    bound = {"objective": objective}
  fn = jax.jit(functools.partial(step_lib.train_steps, tx=tx, **bound), donate_argnums=0)
  return fn, state


def step_time_worker(variant: str, vocab_sizes: list[int], steps: int, calls: int,
                     w2v_path: str | None = None) -> dict:
  """Seconds per step of each of `calls` calls of `steps` steps, after a warm-up call, at each
  vocabulary size (interleaved; the same batches, ids < min(vocab_sizes)), and the pairs per step.

  With `w2v_path` (the old variant's, or a --baseline's copy of w2v_jax/) it imports w2v_jax
  from there, so it needs a fresh interpreter.
  """
  import jax  # pylint: disable=import-outside-toplevel

  v = STEP_VARIANTS[variant]
  if v.old and w2v_path is None:
    raise ValueError(f"{variant} needs w2v_path: a copy of w2v_jax/ at {OLD_STEP_COMMIT}")
  step_lib = _import_step(w2v_path)
  batches = make_step_batches(v, steps, min(vocab_sizes))
  pairs_per_step = float(batches["mask"].sum()) / steps
  batches = jax.device_put(old_step_batches(batches) if v.old else batches)
  fns, states = {}, {}
  for size in vocab_sizes:
    fns[size], states[size] = _make_runner(step_lib, v, size)
  times = {size: [] for size in vocab_sizes}
  for call in range(calls + 1):
    for size, fn in fns.items():
      t0 = time.perf_counter()
      states[size], _ = fn(states[size], batches)
      jax.block_until_ready(states[size])
      if call:  # Call 0 compiles.
        times[size].append((time.perf_counter() - t0) / steps)
  return {"pairs_per_step": pairs_per_step,
          "seconds_per_step": {str(size): t for size, t in times.items()}}


def jax_floor_worker(vocab_size: int, dim: int, batch_size: int, num_ns: int) -> dict:
  """Peak RSS of the least a JAX trainer holds: JAX, two tables and one compiled SGNS step.

  No corpus, vocabulary, input pipeline, logging, export or evaluation; glibc's free pages are
  handed back after the tables are made. This is the memory any JAX implementation pays before
  doing anything else, to set against gensim's whole process.
  """
  import ctypes  # pylint: disable=import-outside-toplevel
  import resource  # pylint: disable=import-outside-toplevel

  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  def step(tables, targets_B, ids_BxC, lr):
    target_VxD, context_VxD = tables
    w_BxD, u_BxCxD = target_VxD[targets_B], context_VxD[ids_BxC]
    labels_BxC = jnp.zeros(ids_BxC.shape).at[:, 0].set(1.0)
    g_BxC = jax.nn.sigmoid(jnp.einsum("bd,bcd->bc", w_BxD, u_BxCxD)) - labels_BxC
    return (target_VxD.at[targets_B].add(-lr * jnp.einsum("bc,bcd->bd", g_BxC, u_BxCxD)),
            context_VxD.at[ids_BxC.reshape(-1)].add(
                -lr * jnp.einsum("bc,bd->bcd", g_BxC, w_BxD).reshape(-1, dim)))

  key = jax.random.PRNGKey(0)
  tables = (jax.random.uniform(key, (vocab_size, dim), minval=-0.5 / dim, maxval=0.5 / dim),
            jnp.zeros((vocab_size, dim)))
  ctypes.CDLL("libc.so.6").malloc_trim(0)
  fn = jax.jit(step, donate_argnums=0)
  rng = np.random.default_rng(0)
  for _ in range(200):
    tables = fn(tables, rng.integers(0, vocab_size, batch_size, dtype=np.int32),
                rng.integers(0, vocab_size, (batch_size, 1 + num_ns), dtype=np.int32), 0.025)
  jax.block_until_ready(tables)
  return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


KERNEL_TOKENS = 3_000_000  # The text of the step-alone comparison: the corpus' first lines.


def prefix_text(corpus: str, tokens: int = KERNEL_TOKENS) -> str:
  """The first whole lines of `corpus` holding `tokens` words, as plain text (made once)."""
  from w2v_jax import text  # pylint: disable=import-outside-toplevel

  out = os.path.join(tempfile.gettempdir(),
                     f"w2v_bench_prefix_{tokens}_{os.path.basename(corpus).split('.')[0]}.txt")
  if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(corpus):
    count = 0
    with open(out + ".tmp", "w", encoding="utf-8") as f:
      for line in text.read_lines([corpus]):
        f.write(line.rstrip("\n") + "\n")
        count += len(line.split())
        if count >= tokens:
          break
    os.replace(out + ".tmp", out)
  return out


def kernel_step_worker(path: str, combo: str, threads: int, calls: int = 0) -> dict:
  """The fused step alone on one pass over `path` (sentence blocks built beforehand): pairs/s
  and raw words/s of the timed calls (the first, which compiles, excluded)."""
  import jax  # pylint: disable=import-outside-toplevel

  from w2v_jax import config as config_lib  # pylint: disable=import-outside-toplevel
  from w2v_jax import data, fused, objectives, pipeline  # pylint: disable=import-outside-toplevel
  from w2v_jax import step as step_lib  # pylint: disable=import-outside-toplevel

  config = config_lib.resolve(config_lib.make(
      **systems.combo_flags(combo), corpus=(path,), standardize="none", seed=1),
      step="fused", threads=threads)
  objective = objectives.from_config(config.objective)
  needs = objective.needs()
  prepared = pipeline.load(config.corpus, config.examples, needs, config.examples.batch_size,
                           seed=config.run.seed, epochs=config.run.epochs)
  steps = 32
  blocks = [b.batches for b in data.sentence_blocks(prepared.source, 1,
                                                     config.examples.batch_size, steps)]
  kernel = fused.Kernel(objective.fused(), config.examples.window_size,
                        config.examples.dynamic_window, threads)
  lookups = jax.device_put(pipeline.lookups(prepared, needs))
  tx = step_lib.make_optimizer("sgd", config.optimizer.learning_rate, len(blocks) * steps)
  state = step_lib.create_train_state(jax.random.PRNGKey(1), objective.tables(len(prepared.vocab)),
                                      config.objective.embedding_dim, tx)
  fn = jax.jit(functools.partial(fused.train_steps, kernel=kernel, tx=tx), donate_argnums=0)
  state, metrics = fn(state, blocks[0], lookups)
  jax.block_until_ready(state)
  timed = blocks[1:calls + 1] if calls else blocks[1:]
  t0 = time.perf_counter()
  out = []
  for batches in timed:
    state, metrics = fn(state, batches, lookups)
    out.append(metrics)
  jax.block_until_ready(state)
  seconds = time.perf_counter() - t0
  pairs_done = sum(float(np.sum(m["pairs"] * m["count"])) for m in out)
  tokens = sum(int((b["tokens"] >= 0).sum()) for b in timed)
  raw_per_token = prepared.corpus.raw_words / len(prepared.corpus.ids)
  return {"pairs_per_sec": pairs_done / seconds, "words_per_sec": tokens * raw_per_token / seconds,
          "pairs_per_word": pairs_done / (tokens * raw_per_token), "seconds": seconds}


def gensim_train_worker(path: str, combo: str, workers: int) -> dict:
  """gensim's `train()` alone (vocabulary built first, untimed) over `path`: raw words/s."""
  from gensim.models import Word2Vec  # pylint: disable=import-outside-toplevel

  settings = systems.combo_flags(combo)
  model = Word2Vec(vector_size=100, window=5, sg=1 if settings["model"] == "skipgram" else 0,
                   hs=int(settings["hs"]), negative=settings["num_ns"], min_count=5,
                   sample=1e-3, workers=workers, epochs=1, seed=1)
  model.build_vocab(corpus_file=path)
  t0 = time.perf_counter()
  model.train(corpus_file=path, total_examples=model.corpus_count,
              total_words=model.corpus_total_words, epochs=1)
  seconds = time.perf_counter() - t0
  return {"words_per_sec": model.corpus_total_words / seconds, "seconds": seconds}


def compare_kernel_steps(corpus: str, combos: list[str], rounds: int) -> dict:
  """The fused step against gensim's `train()` on the same text, at 1 and 2 threads/workers,
  each in its own subprocess, taking turns; gensim's pairs/s from the fused step's pairs per
  word (the same subsampling and windows)."""
  path = prefix_text(corpus)
  rows = {}
  for combo in combos:
    for threads in (1, 2):
      ours, theirs = [], []
      for r in range(rounds):
        jobs = [("kernel", f"kernel_step_worker({path!r}, {combo!r}, {threads})"),
                ("gensim", f"gensim_train_worker({path!r}, {combo!r}, {threads})")]
        for kind, call in jobs if r % 2 == 0 else jobs[::-1]:
          out = _in_subprocess(call)
          if out:
            (ours if kind == "kernel" else theirs).append(out)
      if not ours or not theirs:
        continue
      per_word = statistics.median(x["pairs_per_word"] for x in ours)
      for x in theirs:
        x["pairs_per_sec"] = x["words_per_sec"] * per_word
      rows[f"{combo}@{threads}"] = {
          "combo": combo, "threads": threads, "fused": ours, "gensim": theirs,
          "fused_pairs_per_sec": statistics.median(x["pairs_per_sec"] for x in ours),
          "gensim_pairs_per_sec": statistics.median(x["pairs_per_sec"] for x in theirs)}
  return {"text": path, "tokens": KERNEL_TOKENS, "rounds": rounds, "rows": rows}


def print_kernel_steps(result: dict) -> None:
  print(f"\nthe step alone: the fused step against gensim's train(), one pass over the first "
        f"{result['tokens']:,} words, medians of {result['rounds']} alternating runs:")
  rows = [[r["combo"], str(r["threads"]), f"{r['fused_pairs_per_sec']:,.0f}",
           f"{r['gensim_pairs_per_sec']:,.0f}",
           tables.ratio(r["fused_pairs_per_sec"], r["gensim_pairs_per_sec"])]
          for r in result["rows"].values()]
  print(tables.markdown_table(["combo", "threads", "fused pairs/s", "gensim pairs/s", "ratio"],
                              rows))


def compare_kernel_baseline(corpus: str, combos: list[str], rounds: int, commit: str) -> dict:
  """The fused step alone, this checkout's against `commit`'s (its own benchmarks/ and w2v_jax/,
  so each side builds the step with its own API), at 1 and 2 threads, alternating, `rounds` each."""
  path = prefix_text(corpus)
  rows = {}
  with tempfile.TemporaryDirectory() as tmp:
    root = extract_commit(commit, tmp, ("w2v_jax", "benchmarks"))
    if root is None:
      return {"rows": rows}
    for combo in combos:
      for threads in (1, 2):
        sides = {"this": [], commit: []}
        call = f"kernel_step_worker({path!r}, {combo!r}, {threads})"
        for r in range(rounds):
          for side in (["this", commit] if r % 2 == 0 else [commit, "this"]):
            out = _in_subprocess(call, None if side == "this" else root)
            if out:
              sides[side].append(out)
        if sides["this"] and sides[commit]:
          this, base = (statistics.median(x["pairs_per_sec"] for x in sides[k])
                        for k in ("this", commit))
          rows[f"{combo}@{threads}"] = {"combo": combo, "threads": threads, "this": sides["this"],
                                        "baseline": sides[commit], "this_pairs_per_sec": this,
                                        "baseline_pairs_per_sec": base}
  result = {"text": path, "tokens": KERNEL_TOKENS, "rounds": rounds, "baseline": commit,
            "rows": rows}
  print(f"\nthe fused step alone, this checkout against {commit}, one pass over the first "
        f"{KERNEL_TOKENS:,} words, medians of {rounds} alternating runs:")
  print(tables.markdown_table(
      ["combo", "threads", "this pairs/s", f"{commit} pairs/s", "this / baseline"],
      [[r["combo"], str(r["threads"]), f"{r['this_pairs_per_sec']:,.0f}",
        f"{r['baseline_pairs_per_sec']:,.0f}",
        tables.ratio(r["this_pairs_per_sec"], r["baseline_pairs_per_sec"])]
       for r in rows.values()]))
  return result


def _in_subprocess(call: str, root: str | None = None) -> dict | None:
  """Runs `benchmarks.throughput.<call>` in a fresh interpreter (from `root`'s benchmarks/ and
  w2v_jax/, else this checkout's); its JSON result, or None."""
  code = (f"import json,sys; sys.path.insert(0, {(root or systems.ROOT)!r}); "
          f"from benchmarks import throughput; print(json.dumps(throughput.{call}))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                       cwd=root)
  if out.returncode != 0:
    print(f"warning: {call} failed; skipped:\n{out.stderr[-2000:]}", file=sys.stderr)
    return None
  return json.loads(out.stdout.strip().splitlines()[-1])


def extract_commit(commit: str, directory: str, paths: tuple[str, ...] = ("w2v_jax",)
                   ) -> str | None:
  """`commit`'s `paths` under `directory` (`git archive | tar -x`); None if that fails."""
  os.makedirs(directory, exist_ok=True)
  archive = subprocess.run(["git", "-C", systems.ROOT, "archive", commit, *paths],
                           capture_output=True, check=False)
  if archive.returncode == 0:
    tar = subprocess.run(["tar", "-x", "-C", directory], input=archive.stdout,
                         capture_output=True, check=False)
    if tar.returncode == 0:
      return directory
  print(f"warning: cannot extract {', '.join(paths)} at {commit}; its steps are skipped:\n"
        f"{archive.stderr.decode(errors='replace')[-500:]}", file=sys.stderr)
  return None


def summarise_steps(times: dict[str, list[float]], pairs: dict[str, float]) -> dict:
  """Median ms/step and pairs/s of each variant (`name@commit`: a --baseline's), and their
  ratios to the old step's and to the baseline's."""
  rows = {}
  for name, seconds in times.items():
    v = STEP_VARIANTS[name.split("@")[0]]
    step_s = statistics.median(seconds)
    rows[name] = {"layout": v.layout, "examples_per_step": LAYOUTS[v.layout][0],
                  "slots": LAYOUTS[v.layout][1], "pairs_per_step": pairs[name],
                  "seconds_per_step": step_s, "pairs_per_sec": pairs[name] / step_s,
                  "calls": len(seconds), "per_call_seconds_per_step": seconds}
  old = rows.get(OLD_VARIANT)
  for name, row in rows.items():
    row["pairs_per_sec_vs_old"] = row["pairs_per_sec"] / old["pairs_per_sec"] if old else None
    row["seconds_per_step_vs_old"] = (row["seconds_per_step"] / old["seconds_per_step"]
                                      if old else None)
    base = rows.get(name.split("@")[0]) if "@" in name else None
    row["pairs_per_sec_vs_this"] = row["pairs_per_sec"] / base["pairs_per_sec"] if base else None
  return rows


def measure_steps(names: list[str], steps: int, calls: int, rounds: int,
                  baseline: str | None = None) -> dict:
  """Each variant in `rounds` fresh subprocesses, taking turns so machine drift hits all alike;
  with `baseline` (a commit), each generic variant also from that commit's w2v_jax/."""
  if baseline:
    names = [n for name in names
             for n in (name, *(() if STEP_VARIANTS[name].old else (f"{name}@{baseline}",)))]
  times, pairs = {name: [] for name in names}, {}
  with tempfile.TemporaryDirectory() as tmp:
    paths = {OLD_STEP_COMMIT: extract_commit(OLD_STEP_COMMIT, os.path.join(tmp, "old"))
             if OLD_VARIANT in names else None}
    if baseline:
      paths[baseline] = extract_commit(baseline, os.path.join(tmp, "baseline"))
    for _ in range(rounds):
      for name in names:
        variant, _, commit = name.partition("@")
        commit = OLD_STEP_COMMIT if STEP_VARIANTS[variant].old else commit
        path = paths.get(commit) if commit else None
        if commit and path is None:
          continue
        out = _in_subprocess(f"step_time_worker({variant!r}, [{STEP_VOCAB}], {steps}, {calls}, "
                             f"{path!r})")
        if out:
          times[name] += out["seconds_per_step"][str(STEP_VOCAB)]
          pairs[name] = out["pairs_per_step"]
  return summarise_steps({k: t for k, t in times.items() if t}, pairs)


def measure_vocab_times(vocab_sizes: list[int], steps: int, calls: int) -> dict | None:
  """Median seconds per step of the default layout at each vocabulary size, one subprocess."""
  out = _in_subprocess(f"step_time_worker({DEFAULT_VARIANT!r}, {vocab_sizes!r}, {steps}, {calls})")
  if out is None:
    return None
  return {size: statistics.median(t) for size, t in out["seconds_per_step"].items()}


COLUMNS: list[tables.Column] = [
    ("train_seconds", "train s", "{:.1f}"), ("whole_seconds", "whole s", "{:.1f}"),
    ("words_per_sec", "words/s", "{:,.0f}"), ("whole_words_per_sec", "whole words/s", "{:,.0f}"),
    ("pairs_per_sec", "pairs/s", "{:,.0f}"), ("peak_rss_mb", "peak RSS MB", "{:.0f}"),
    ("analogy_accuracy", "analogy", "{:.4f}"), ("wordsim_spearman", "WS353 rho", "{:.3f}")]


ONE_REPLICA = "w2v_jax[1 replica]"


def make_jobs(combos: list[str], flags: dict, with_gensim: bool,
              one_replica: bool = False) -> list[jobs_lib.Job]:
  """Per combination: w2v_jax (with `flags` of its own), one replica if asked, gensim."""
  jobs = []
  for combo in combos:
    jobs.append(jobs_lib.Job(combo, "w2v_jax", "w2v_jax", {"flags": flags}))
    if one_replica:
      jobs.append(jobs_lib.Job(combo, ONE_REPLICA, "w2v_jax",
                               {"flags": {**flags, "replicas": 1}}))
    if with_gensim:
      jobs.append(jobs_lib.Job(combo, "gensim", "gensim", {}))
  return jobs


def add_gensim_pairs(by_label: dict[str, list[dict]]) -> None:
  """gensim does not count pairs: it walks the same windows, so use w2v_jax's count."""
  ours, theirs = by_label.get("w2v_jax", []), by_label.get("gensim", [])
  if ours and theirs:
    pairs = statistics.mean(x["pairs"] for x in ours)
    for x in theirs:
      x["pairs_per_sec"] = pairs / x["train_seconds"]


def table(runs: dict[str, dict[str, list[dict]]]) -> str:
  """Each w2v_jax configuration, gensim, and the ratio of each to gensim, per combination."""
  rows = []
  for combo, by_label in runs.items():
    theirs = by_label.get("gensim", [])
    ours = [(label, r) for label, r in by_label.items() if label != "gensim" and r]
    for label, r in ours:
      rows.append([combo, label, *tables.cells(r, COLUMNS)])
    if theirs:
      rows.append([combo, "gensim", *tables.cells(theirs, COLUMNS)])
      for label, r in ours:
        rows.append([combo, f"{label} / gensim",
                     *tables.ratio_cells(r, theirs, [key for key, _, _ in COLUMNS])])
  return tables.markdown_table(["combo", "system"] + [h for _, h, _ in COLUMNS], rows)


def print_floor(floor: dict, gensim_runs: list[dict], combo: str) -> None:
  gensim_mb = tables.median(gensim_runs, "peak_rss_mb")
  print(f"\nJAX floor (JAX, the two tables and one compiled step, nothing else): peak RSS "
        f"{floor['peak_rss_mb']:.0f} MB = {tables.ratio(floor['peak_rss_mb'], gensim_mb)}"
        f" gensim's whole run ({combo})")


def print_steps(rows: dict, steps: int) -> None:
  print(f"\nstep time, {steps} steps per call, V = {STEP_VOCAB:,}, dim {STEP_DIM}, Zipf ids; "
        f"windows: {WINDOW_FILL:.0%} of the slots valid; hs: paths of "
        f"{PATH_LENGTH // 2}-{PATH_LENGTH} nodes; pairs: valid (context, centre) slots:")
  def times(x):
    return "-" if x is None else f"{x:.2f}x"

  table_rows = [[name, f"{r['examples_per_step']} x {r['slots']}", f"{r['pairs_per_step']:,.0f}",
                 f"{r['seconds_per_step'] * 1e3:.3f}", f"{r['pairs_per_sec']:,.0f}",
                 times(r["pairs_per_sec_vs_old"]), times(r.get("pairs_per_sec_vs_this")),
                 str(r["calls"])] for name, r in rows.items()]
  print(tables.markdown_table(["step", "B x S", "pairs/step", "ms/step", "pairs/s",
                               f"pairs/s vs {OLD_VARIANT}", "baseline / this checkout",
                               "calls"], table_rows))


def print_vocab_times(vocab_times: dict) -> None:
  batch_size, _ = LAYOUTS[STEP_VARIANTS[DEFAULT_VARIANT].layout]
  print(f"\nstep time ({DEFAULT_VARIANT}, batch {batch_size}, same batches) by vocabulary size:")
  for v, t in vocab_times.items():
    print(f"  V = {int(v):>9,}: {t * 1e3:.3f} ms/step")
  items = list(vocab_times.items())
  (first_v, first), (last_v, last) = items[0], items[-1]
  print(f"  ratio V={int(last_v):,} / V={int(first_v):,}: {last / first:.3f}")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--corpus")
  parser.add_argument("--steps_only", action="store_true",
                      help="Only the step-time comparison (no training, no corpus needed).")
  parser.add_argument("--epochs", type=int, default=5)
  parser.add_argument("--repeats", type=int, default=1, help="Alternating runs of each system.")
  parser.add_argument("--combos", default="sg-ns",
                      help=f"Comma-separated, from {','.join(systems.COMBOS)}.")
  jobs_lib.add_trainer_args(parser)
  parser.add_argument("--one_replica", action="store_true",
                      help="Also train w2v_jax with --replicas 1 (one model), alternating.")
  parser.add_argument("--no_steps", action="store_true",
                      help="Skip the generic step's comparison (synthetic batches).")
  parser.add_argument("--no_kernel_steps", action="store_true",
                      help="Skip the fused step against gensim's train() at 1 and 2 threads.")
  parser.add_argument("--kernel_baseline", default=None,
                      help="Only the fused step alone, this checkout's against this commit's, "
                           "alternating (before/after a change, in one run).")
  parser.add_argument("--kernel_rounds", type=int, default=3,
                      help="Alternating runs of the fused step and gensim's train().")
  parser.add_argument("--no_gensim", action="store_true")
  parser.add_argument("--vocab_sizes", default="10000,1000000",
                      help="Step time of the default layout at these sizes (first and last).")
  parser.add_argument("--step_rounds", type=int, default=3,
                      help="Fresh subprocesses per step variant, the variants taking turns.")
  parser.add_argument("--baseline", default=None,
                      help="A commit whose generic step variants also run, alternating with "
                           "this checkout's (before/after a change, in one run).")
  parser.add_argument("--step_calls", type=int, default=8,
                      help="Timed calls (of --steps_per_call steps) per step subprocess.")
  jobs_lib.add_subword_args(parser)
  parser.add_argument("--json", default="benchmarks/results/throughput.json")
  args = parser.parse_args()
  if args.kernel_baseline:
    if not args.corpus or not os.path.exists(args.corpus):
      parser.error(f"--corpus {args.corpus}: no such file")
    results = {"machine": jobs_lib.machine_info(), "command": " ".join(sys.argv),
               "kernel_baseline": compare_kernel_baseline(
                   args.corpus, systems.parse_combos(args.combos), args.kernel_rounds,
                   args.kernel_baseline)}
    write_json(args.json, results)
    print(f"\nwrote {args.json}")
    return
  if args.steps_only:
    results = {"machine": jobs_lib.machine_info(), "command": " ".join(sys.argv)}
    print(jobs_lib.describe_machine(results["machine"]))
  else:
    if not args.corpus or not os.path.exists(args.corpus):
      parser.error(f"--corpus {args.corpus}: no such file")
    try:
      combos = systems.parse_combos(args.combos)
    except ValueError as e:
      parser.error(f"--combos: {e}")
    results = compare_training(args, combos)
    if not args.no_kernel_steps:
      results["kernel_steps"] = compare_kernel_steps(args.corpus, combos, args.kernel_rounds)
      print_kernel_steps(results["kernel_steps"])
      write_json(args.json, results)
  if not args.no_steps:
    compare_steps(args, results)
  write_json(args.json, results)
  print(f"\nwrote {args.json}")


def compare_training(args: argparse.Namespace, combos: list[str]) -> dict:
  """Both systems per combination, whole process and training; the JAX floor."""
  extra = jobs_lib.trainer_flags(args)
  shared = jobs_lib.shared_flags(args)
  runs = jobs_lib.run_jobs(make_jobs(combos, extra, not args.no_gensim, args.one_replica),
                           shared, args.repeats)
  for by_label in runs.values():
    add_gensim_pairs(by_label)
  machine = jobs_lib.machine_info()
  first = runs[combos[0]]["w2v_jax"][0]
  print(f"\ncorpus {args.corpus}: {first['raw_words']:,} words, vocabulary "
        f"{first['vocab_size']:,}, {args.epochs} epochs, {jobs_lib.describe_machine(machine)}, "
        f"medians of {args.repeats} run(s); whole: process start to vectors written")
  if args.subwords:
    print(f"subwords: w2v_jax --subwords against gensim FastText, n-grams of {args.minn}-"
          f"{args.maxn} characters in {args.bucket:,} buckets")
  print(table(runs))
  print(f"w2v_jax: {first['replicas']} replica(s)"
        + (f", merged ({first['merge']}) every {first['sync_every']} steps"
           if first["replicas"] > 1 else ""))
  waits = {combo: tables.median(by_label["w2v_jax"], "input_wait_fraction")
           for combo, by_label in runs.items()}
  print("\nw2v_jax input pipeline: the loop waited for the next block "
        + ", ".join(f"{100 * w:.1f}% ({combo})" for combo, w in waits.items() if w is not None)
        + " of the training time (with up to two calls still computing)")
  results = {"flags": shared, "combos": combos, "machine": machine, "extra": extra,
             "runs": runs, "command": " ".join(sys.argv)}
  write_json(args.json, results)  # Saved now: what follows may fail (then it is skipped).

  batch_size = args.batch_size or 1024
  floor = _in_subprocess(f"jax_floor_worker({first['vocab_size']}, 100, {batch_size}, 5)")
  floor_combo = "sg-ns" if "sg-ns" in runs else combos[0]
  if floor and runs[floor_combo].get("gensim"):
    print_floor(floor, runs[floor_combo]["gensim"], floor_combo)
  results["jax_floor_peak_rss_mb"] = floor["peak_rss_mb"] if floor else None
  return results


def compare_steps(args: argparse.Namespace, results: dict) -> None:
  """The step alone, each variant against the old per-pair step; step time against V."""
  steps = args.steps_per_call or 32
  rows = measure_steps(list(STEP_VARIANTS), steps, args.step_calls, args.step_rounds,
                       args.baseline)
  if rows:
    print_steps(rows, steps)
  results["step_comparison"] = {
      "vocab_size": STEP_VOCAB, "dim": STEP_DIM, "num_ns": STEP_NUM_NS, "steps_per_call": steps,
      "calls_per_subprocess": args.step_calls, "rounds": args.step_rounds, "variants": rows}
  results["step_seconds_by_vocab"] = measure_vocab_times(
      [int(v) for v in args.vocab_sizes.split(",")], steps, args.step_calls * args.step_rounds)
  if results["step_seconds_by_vocab"]:
    print_vocab_times(results["step_seconds_by_vocab"])


if __name__ == "__main__":
  main()
