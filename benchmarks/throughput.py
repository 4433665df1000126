r"""Training throughput of w2v_jax against gensim, side by side, plus step time against vocab size.

  python benchmarks/throughput.py --corpus ../shared/data/bench-corpus.txt.gz
  python benchmarks/throughput.py --corpus ../shared/data/small-corpus.txt.gz --epochs 1 --no_gensim

Each system trains in its own subprocess (own peak RSS), the two alternating when --repeats > 1
so machine noise hits both. Timed: the training passes only (w2v_jax: the loop including jit
compilation and the input pipeline; gensim: `train()`); vocabulary building and corpus encoding
are excluded for both. Both are evaluated with w2v_jax's evaluator. Also measures the JAX floor
(the peak RSS of JAX, the two tables and one compiled step, nothing else) and the step time
against vocabulary size. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # pylint: disable=wrong-import-position


def step_time_worker(vocab_sizes: list[int], batch_size: int, steps: int, rounds: int) -> dict:
  """Median seconds per step at each vocabulary size, on the same batches (ids < 10k)."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  from w2v_jax import negatives  # pylint: disable=import-outside-toplevel
  from w2v_jax import step as step_lib  # pylint: disable=import-outside-toplevel

  rng = np.random.default_rng(0)
  used = min(vocab_sizes)
  base_counts = np.sort(rng.zipf(1.3, used))[::-1]
  batches = {"targets": jnp.asarray(rng.integers(0, used, (steps, batch_size)), jnp.int32),
             "contexts": jnp.asarray(rng.integers(0, used, (steps, batch_size)), jnp.int32),
             "mask": jnp.ones((steps, batch_size), jnp.float32),
             # As in training: the input pipeline draws the negatives.
             "negatives": jnp.asarray(rng.integers(0, used, (steps, batch_size, 5)), jnp.int32)}
  runners = {}
  for v in vocab_sizes:
    counts = np.zeros(v, np.int64)
    counts[:used] = base_counts  # Same noise distribution at every size.
    tx = step_lib.make_optimizer("sgd", 0.025, 10**7)
    state = step_lib.create_train_state(
        jax.random.PRNGKey(0), v, 100, tx,
        negatives.build_alias_table(negatives.unigram_probs(counts)))
    fn = jax.jit(functools.partial(step_lib.train_steps, tx=tx,
                                   settings=step_lib.StepSettings()), donate_argnums=0)
    state, _ = fn(state, batches)
    jax.block_until_ready(state)
    runners[v] = [fn, state]
  times = {v: [] for v in vocab_sizes}
  for _ in range(rounds):  # Interleaved, so drift in machine load hits every size alike.
    for v in vocab_sizes:
      fn, state = runners[v]
      t0 = time.perf_counter()
      for _ in range(8):
        state, _ = fn(state, batches)
      jax.block_until_ready(state)
      runners[v][1] = state
      times[v].append((time.perf_counter() - t0) / (8 * steps))
  return {str(v): statistics.median(t) for v, t in times.items()}


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
  import numpy as np  # pylint: disable=import-outside-toplevel

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


def _in_subprocess(call: str) -> dict:
  """Runs `benchmarks.throughput.<call>` in a fresh interpreter; returns its JSON result."""
  code = (f"import json,sys; sys.path.insert(0, {common.ROOT!r}); "
          f"from benchmarks import throughput; print(json.dumps(throughput.{call}))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def measure_step_time(vocab_sizes, batch_size, steps, rounds) -> dict:
  return _in_subprocess(f"step_time_worker({vocab_sizes!r}, {batch_size}, {steps}, {rounds})")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--corpus", required=True)
  parser.add_argument("--epochs", type=int, default=5)
  parser.add_argument("--repeats", type=int, default=1, help="Alternating runs of each system.")
  parser.add_argument("--batch_size", type=int, default=None)
  parser.add_argument("--steps_per_call", type=int, default=None)
  parser.add_argument("--no_gensim", action="store_true")
  parser.add_argument("--vocab_sizes", default="10000,1000000")
  parser.add_argument("--json", default="benchmarks/results/throughput.json")
  args = parser.parse_args()
  if not os.path.exists(args.corpus):
    sys.exit(f"error: --corpus {args.corpus}: no such file")

  extra = {k: v for k, v in (("batch_size", args.batch_size),
                             ("steps_per_call", args.steps_per_call)) if v is not None}
  runs = []
  for r in range(args.repeats):
    settings = common.Settings(corpus=args.corpus, epochs=args.epochs, seed=r + 1)
    order = ["w2v_jax", "gensim"] if r % 2 == 0 else ["gensim", "w2v_jax"]
    for system in order:
      if system == "gensim" and args.no_gensim:
        continue
      print(f"[{r + 1}/{args.repeats}] training {system} ...", file=sys.stderr, flush=True)
      runs.append(common.run_worker(system, settings, dict(extra) if system == "w2v_jax" else {}))
  ours = [x for x in runs if x["system"].startswith("w2v_jax")]
  theirs = [x for x in runs if x["system"] == "gensim"]
  if ours and theirs:  # gensim does not count pairs: it walks the same windows, so use ours.
    pairs_per_epoch = statistics.mean(x["pairs"] for x in ours) / args.epochs
    for x in theirs:
      x["pairs_per_sec"] = pairs_per_epoch * args.epochs / x["train_seconds"]

  sizes = [int(v) for v in args.vocab_sizes.split(",")]
  floor = _in_subprocess(f"jax_floor_worker({runs[0]['vocab_size']}, 100, "
                         f"{args.batch_size or 1024}, 5)")
  step_times = measure_step_time(sizes, args.batch_size or 1024, args.steps_per_call or 32, 15)

  def med(xs, key):
    vals = [x[key] for x in xs if x.get(key) is not None]
    return statistics.median(vals) if vals else None

  cols = [("train_seconds", "train s", "{:.1f}"), ("words_per_sec", "words/s", "{:,.0f}"),
          ("pairs_per_sec", "pairs/s", "{:,.0f}"), ("peak_rss_mb", "peak RSS MB", "{:.0f}"),
          ("analogy_accuracy", "analogy", "{:.4f}"), ("wordsim_spearman", "WS353 rho", "{:.3f}")]
  rows = [("w2v_jax", ours), ("gensim", theirs)]
  print(f"\ncorpus {args.corpus}: {runs[0]['raw_words']:,} words, vocabulary "
        f"{runs[0]['vocab_size']:,}, {args.epochs} epochs, {os.cpu_count()} cores, "
        f"medians of {args.repeats} run(s)")
  print("| system | " + " | ".join(c[1] for c in cols) + " |")
  print("|---" * (len(cols) + 1) + "|")
  for name, xs in rows:
    if xs:
      cells = [fmt.format(v) if (v := med(xs, k)) is not None else "-" for k, _, fmt in cols]
      print(f"| {name} | " + " | ".join(cells) + " |")
  if ours and theirs:
    print("| w2v_jax / gensim | " + " | ".join(
        common.ratio(med(ours, k), med(theirs, k)) for k, _, _ in cols) + " |")
  if ours:
    print(f"\nw2v_jax input pipeline: the step waited for data "
          f"{100 * med(ours, 'input_wait_fraction'):.1f}% of the training time")
  if theirs:
    print(f"\nJAX floor (JAX, the two tables and one compiled step, nothing else): peak RSS "
          f"{floor['peak_rss_mb']:.0f} MB = {common.ratio(floor['peak_rss_mb'], med(theirs, 'peak_rss_mb'))}"
          f" gensim's whole run")
  print("\nstep time (batch {}, same batches) by vocabulary size:".format(args.batch_size or 1024))
  for v, t in step_times.items():
    print(f"  V = {int(v):>9,}: {t * 1e3:.3f} ms/step")
  first, last = step_times[str(sizes[0])], step_times[str(sizes[-1])]
  print(f"  ratio V={sizes[-1]:,} / V={sizes[0]:,}: {last / first:.3f}")
  common.write_json(args.json, {"settings": dataclasses.asdict(settings), "extra": extra,
                                "runs": runs, "step_time_seconds": step_times,
                                "jax_floor_peak_rss_mb": floor["peak_rss_mb"],
                                "command": " ".join(sys.argv)})
  print(f"\nwrote {args.json}")


if __name__ == "__main__":
  main()
