r"""Vector quality of w2v_jax against gensim on the same text and settings, per combination.

  python benchmarks/quality.py --corpus ../shared/data/bench-corpus.txt.gz --repeats 3 \
      --gensim_schedule
  python benchmarks/quality.py --corpus ../shared/data/bench-corpus.txt.gz --repeats 3 \
      --combos sg-ns,cbow-ns,sg-hs,cbow-hs
  python benchmarks/quality.py --corpus ../shared/data/small-corpus.txt.gz --subwords

With --subwords (and --minn, --maxn, --bucket) the two systems are w2v_jax --subwords and gensim
`FastText` with the same settings, and WordSim is also scored over every pair through n-grams.

For each combination in --combos (skip-gram or CBOW, with 5 negatives, or hierarchical softmax
and no negatives), trains w2v_jax (word2vec preset) and gensim `Word2Vec` in `corpus_file` mode
(its fastest; window 5, dim 100, subsample 1e-3, min_count 5, 5 epochs, lr 0.025, CBOW averaging
its context; the `bench` extra), each in its own subprocess, --repeats times with seeds 1, 2, ...

With the default --combos sg-ns (or --gensim_iterable, for every combination) it also trains gensim
streaming the text (`iterable`: in `corpus_file` mode gensim's learning rate decays only half-way
within each epoch with 2 workers, see `systems.gensim_worker`); with --combos sg-ns, w2v_jax's
`seed` preset too (the notebook's recipe, its own 80 epochs; --no_seed skips it).
`--gensim_schedule` adds, per combination, w2v_jax trained with gensim corpus_file's effective
learning rate (`systems.gensim_corpus_file_schedule`), which isolates what that schedule is worth.

Evaluates all with w2v_jax's evaluator (analogies restricted to the 30,000 most frequent words,
WordSim-353 Spearman) and prints one table: medians, the training time, the whole process's time
(start to vectors written) and each row's ratios to its combination's gensim runs. Writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import jobs as jobs_lib  # pylint: disable=wrong-import-position
from benchmarks import systems, tables  # pylint: disable=wrong-import-position
from w2v_jax import io_utils  # pylint: disable=wrong-import-position

COLUMNS: list[tables.Column] = [
    ("analogy_accuracy", "analogy acc", "{:.4f}"),
    ("analogy_total", "questions", "{:,.0f}"),
    ("analogy_all", "acc, OOV wrong", "{:.4f}"),
    ("wordsim_spearman", "WS353 rho", "{:.3f}"),
    ("train_seconds", "train s", "{:.1f}"),
    ("whole_seconds", "whole s", "{:.1f}"),
]
RATIOS = (("analogy_accuracy", "analogy"), ("wordsim_spearman", "rho"))
# With --subwords: WordSim over every pair whose words have n-grams, analogies whose question
# words have them (answers among the vocabulary), and how many needed a word outside it.
SUBWORD_COLUMNS: list[tables.Column] = [
    ("wordsim_subwords_spearman", "WS353 rho, subwords", "{:.3f}"),
    ("wordsim_subwords_pairs", "pairs, subwords", "{:,.0f}"),
    ("wordsim_subwords_outside", "of them OOV", "{:,.0f}"),
    ("analogy_subwords_accuracy", "analogy acc, subwords", "{:.4f}"),
    ("analogy_subwords_total", "questions, subwords", "{:,.0f}"),
    ("analogy_subwords_outside", "of them OOV", "{:,.0f}"),
]
# Row labels in table order; the extras only run for the default combination.
ROWS = {
    "w2v_jax": "w2v_jax (word2vec preset)",
    "w2v_jax[cf schedule]": "w2v_jax, gensim cf's learning rate",
    "w2v_jax[lr held]": "w2v_jax, learning rate held --lr_hold steps",
    "w2v_jax[rule]": "w2v_jax, kernel rule with --rule",
    "gensim": "gensim 4.4, corpus_file (cf)",
    "gensim[iterable]": "gensim 4.4, iterable (it)",
    "w2v_jax[seed]": "w2v_jax (seed preset, {seed_epochs} ep)",
}
REFERENCES = (("gensim", "gensim cf"), ("gensim[iterable]", "gensim it"))
SUBWORD_ROWS = {"w2v_jax": "w2v_jax --subwords", "gensim": "gensim 4.4 FastText, corpus_file (cf)"}


def make_jobs(combos: list[str], gensim_iterable: bool, gensim_schedule: bool,
              flags: dict | None = None, corpus_file: bool = True, lr_hold: int = 0,
              rule: dict | None = None, w2v_jax: bool = True) -> list[jobs_lib.Job]:
  """Per combination: w2v_jax and gensim cf (unless not `corpus_file`), optionally gensim
  streaming and w2v_jax on cf's rate. `flags`: w2v_jax flags of every w2v_jax job."""
  jobs = []
  flags = flags or {}
  for combo in combos:
    if w2v_jax:
      jobs.append(jobs_lib.Job(combo, "w2v_jax", "w2v_jax", {"flags": flags}))
    if corpus_file:
      jobs.append(jobs_lib.Job(combo, "gensim", "gensim", {}))
    if gensim_iterable:
      jobs.append(jobs_lib.Job(combo, "gensim[iterable]", "gensim", {"mode": "iterable"}))
    if gensim_schedule:
      jobs.append(jobs_lib.Job(combo, "w2v_jax[cf schedule]", "w2v_jax",
                               {"flags": flags, "schedule": "gensim_corpus_file"}))
    if lr_hold:
      jobs.append(jobs_lib.Job(combo, "w2v_jax[lr held]", "w2v_jax",
                               {"flags": flags, "schedule": f"held:{lr_hold}"}))
    if rule:
      jobs.append(jobs_lib.Job(combo, "w2v_jax[rule]", "w2v_jax", {"flags": flags, "rule": rule}))
  return jobs


def table(runs: dict[str, dict[str, list[dict]]], seed_epochs: int, subwords: bool = False
          ) -> str:
  """One row per (combination, system) with ratios to that combination's gensim runs."""
  columns = [*COLUMNS, *(SUBWORD_COLUMNS if subwords else [])]
  names = {**ROWS, **(SUBWORD_ROWS if subwords else {})}
  refs = [(label, name) for label, name in REFERENCES
          if any(by_label.get(label) for by_label in runs.values())]
  header = (["combo", "system"] + [heading for _, heading, _ in columns]
            + [f"{name} / {ref}" for _, ref in refs for _, name in RATIOS])
  rows = []
  for combo, by_label in runs.items():
    for label, row_name in names.items():
      if by_label.get(label):
        ratios = [cell for ref, _ in refs for cell in tables.ratio_cells(
            by_label[label], by_label.get(ref, []), [key for key, _ in RATIOS])]
        rows.append([combo, row_name.format(seed_epochs=seed_epochs),
                     *tables.cells(by_label[label], columns), *ratios])
  return tables.markdown_table(header, rows)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--corpus", required=True)
  parser.add_argument("--epochs", type=int, default=5)
  parser.add_argument("--repeats", type=int, default=1)
  parser.add_argument("--combos", default="sg-ns",
                      help=f"Comma-separated, from {','.join(systems.COMBOS)}.")
  parser.add_argument("--seed_epochs", type=int, default=80, help="Epochs of the seed preset.")
  parser.add_argument("--no_seed", action="store_true", help="Skip the seed preset.")
  parser.add_argument("--gensim_schedule", action="store_true",
                      help="Also train w2v_jax with gensim corpus_file's effective learning rate.")
  parser.add_argument("--gensim_iterable", action="store_true",
                      help="Also train gensim streaming the text, for every combination.")
  parser.add_argument("--lr_hold", type=int, default=0,
                      help="Also train w2v_jax with its linear decay held K steps at a time.")
  parser.add_argument("--rule", type=json.loads, default=None,
                      help='Also train w2v_jax with its kernel rule changed, e.g. '
                           '\'{"per_pair": true}\' (rules.Rule\'s fields).')
  parser.add_argument("--no_w2v_jax", action="store_true",
                      help="Skip w2v_jax's own default run (with --rule or --lr_hold: only them).")
  parser.add_argument("--no_corpus_file", action="store_true",
                      help="Skip gensim corpus_file (with --gensim_iterable: compare with "
                           "gensim streaming alone, which follows the same linear schedule).")
  jobs_lib.add_trainer_args(parser)
  jobs_lib.add_subword_args(parser)
  parser.add_argument("--json", default="benchmarks/results/quality.json")
  args = parser.parse_args()
  if not os.path.exists(args.corpus):
    sys.exit(f"error: --corpus {args.corpus}: no such file")
  try:
    combos = systems.parse_combos(args.combos)
  except ValueError as e:
    parser.error(f"--combos: {e}")
  # The default run streams gensim and trains the seed too; subwords compare with FastText only.
  with_extras = combos == ["sg-ns"] and not args.subwords
  shared = jobs_lib.shared_flags(args)
  runs = jobs_lib.run_jobs(
      make_jobs(combos, with_extras or args.gensim_iterable, args.gensim_schedule,
                jobs_lib.trainer_flags(args), not args.no_corpus_file,
                args.lr_hold, args.rule, not args.no_w2v_jax), shared, args.repeats)
  if with_extras and not args.no_seed:
    print("training w2v_jax seed preset ...", file=sys.stderr, flush=True)
    runs["sg-ns"]["w2v_jax[seed]"] = [systems.run_worker(
        "w2v_jax", {**shared, "seed": 1}, {"preset": "seed", "epochs": args.seed_epochs})]

  machine = jobs_lib.machine_info()
  first = next(r[0] for r in runs[combos[0]].values() if r)
  print(f"\ncorpus {args.corpus}: {first['raw_words']:,} words; {args.epochs} epochs; "
        f"{jobs_lib.describe_machine(machine)}; analogy accuracy over the questions whose words are "
        f"all among each system's 30,000 most frequent (their count in 'questions'); "
        f"'acc, OOV wrong' over all {first['analogy_total'] + first['analogy_oov']:,.0f}; "
        f"whole s: process start to vectors written; "
        f"medians of {args.repeats} run(s) with seeds 1..{args.repeats}")
  print(table(runs, args.seed_epochs, args.subwords))
  io_utils.atomic_write_json(args.json, {"flags": shared, "combos": combos,
                                "machine": machine, "runs": runs, "command": " ".join(sys.argv)})
  print(f"\nwrote {args.json}")


if __name__ == "__main__":
  main()
