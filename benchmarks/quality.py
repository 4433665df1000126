r"""Vector quality of w2v_jax against gensim on the same text and settings, and seed vs word2vec.

  python benchmarks/quality.py --corpus ../shared/data/bench-corpus.txt.gz --gensim_schedule

Trains w2v_jax (word2vec preset), gensim `Word2Vec` (sg, window 5, 5 negatives, dim 100,
subsample 1e-3, min_count 5, 5 epochs; the `bench` extra) twice, in `corpus_file` mode (its
fastest, whose learning rate decays only half-way within each epoch with 2 workers: see
`common.gensim_worker`) and streaming the text (`iterable`, the linear decay asked for), and
w2v_jax's `seed` preset (the notebook's recipe, its own 80 epochs) on one corpus, each in its own
subprocess. `--gensim_schedule` adds w2v_jax trained with gensim corpus_file's effective learning
rate (`common.gensim_corpus_file_schedule`), which isolates what that schedule is worth.
Evaluates all with w2v_jax's evaluator (analogies restricted to the 30,000 most frequent words,
WordSim-353 Spearman) and prints one table with ratios to both gensim runs. Writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # pylint: disable=wrong-import-position


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--corpus", required=True)
  parser.add_argument("--epochs", type=int, default=5)
  parser.add_argument("--repeats", type=int, default=1)
  parser.add_argument("--seed_epochs", type=int, default=80, help="Epochs of the seed preset.")
  parser.add_argument("--no_seed", action="store_true", help="Skip the seed preset.")
  parser.add_argument("--gensim_schedule", action="store_true",
                      help="Also train w2v_jax with gensim corpus_file's effective learning rate.")
  parser.add_argument("--json", default="benchmarks/results/quality.json")
  args = parser.parse_args()
  if not os.path.exists(args.corpus):
    sys.exit(f"error: --corpus {args.corpus}: no such file")

  systems = {"w2v_jax": ("w2v_jax", {}), "gensim": ("gensim", {}),
             "gensim[iterable]": ("gensim", {"mode": "iterable"})}
  if args.gensim_schedule:
    systems["w2v_jax[cf schedule]"] = ("w2v_jax", {"schedule": "gensim_corpus_file"})
  runs: dict[str, list[dict]] = {name: [] for name in [*systems, "w2v_jax[seed]"]}
  for r in range(args.repeats):
    # Repeat r uses seed r + 1 for every system: the medians are over independent runs.
    settings = common.Settings(corpus=args.corpus, epochs=args.epochs, seed=r + 1)
    order = list(systems) if r % 2 == 0 else list(reversed(systems))
    for name in order:
      print(f"[{r + 1}/{args.repeats}] training {name} ...", file=sys.stderr, flush=True)
      worker, extra = systems[name]
      runs[name].append(common.run_worker(worker, settings, extra))
  settings = common.Settings(corpus=args.corpus, epochs=args.epochs)
  if not args.no_seed:
    print("training w2v_jax seed preset ...", file=sys.stderr, flush=True)
    runs["w2v_jax[seed]"].append(
        common.run_worker("w2v_jax", settings, {"preset": "seed", "epochs": args.seed_epochs}))

  def med(system, key):
    vals = [x[key] for x in runs[system] if x.get(key) is not None]
    return statistics.median(vals) if vals else None

  for xs in runs.values():  # Comparable across vocabularies: out-of-vocabulary counts as wrong.
    for x in xs:
      x["analogy_all"] = x["analogy_correct"] / (x["analogy_total"] + x["analogy_oov"])
  cols = [("analogy_accuracy", "analogy acc", "{:.4f}"),
          ("analogy_total", "questions", "{:,.0f}"),
          ("analogy_all", "acc, OOV wrong", "{:.4f}"),
          ("wordsim_spearman", "WS353 rho", "{:.3f}"),
          ("train_seconds", "train s", "{:.1f}")]
  first = runs["w2v_jax"][0]
  print(f"\ncorpus {args.corpus}: {first['raw_words']:,} words; analogy accuracy over the "
        f"questions whose words are all among each system's 30,000 most frequent (their count "
        f"in 'questions'); 'acc, OOV wrong' over all "
        f"{first['analogy_total'] + first['analogy_oov']:,.0f}; "
        f"medians of {args.repeats} run(s) with seeds 1..{args.repeats}")
  ratio_cols = [("analogy_accuracy", "analogy"), ("wordsim_spearman", "rho")]
  references = (("gensim", "gensim cf"), ("gensim[iterable]", "gensim it"))
  header = (["system"] + [c[1] for c in cols]
            + [f"{name} / {ref}" for _, ref in references for _, name in ratio_cols])
  print("| " + " | ".join(header) + " |")
  print("|---" * len(header) + "|")
  for system, label in (("w2v_jax", "w2v_jax (word2vec preset)"),
                        ("w2v_jax[cf schedule]", "w2v_jax, gensim cf's learning rate"),
                        ("gensim", "gensim 4.4, corpus_file (cf)"),
                        ("gensim[iterable]", "gensim 4.4, iterable (it)"),
                        ("w2v_jax[seed]", f"w2v_jax (seed preset, {args.seed_epochs} ep)")):
    if not runs[system]:
      continue
    vals = {k: med(system, k) for k, _, _ in cols}
    cells = [fmt.format(vals[k]) if vals[k] is not None else "-" for k, _, fmt in cols]
    ratios = [common.ratio(vals[k], med(ref, k)) for ref, _ in references for k, _ in ratio_cols]
    print(f"| {label} | " + " | ".join(cells + ratios) + " |")
  common.write_json(args.json, {"settings": dataclasses.asdict(settings), "runs": runs,
                                "command": " ".join(sys.argv)})
  print(f"\nwrote {args.json}")


if __name__ == "__main__":
  main()
