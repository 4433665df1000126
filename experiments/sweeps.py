"""Sweeps as data: named grids of train flags, each with the command that runs it.

A sweep is a grid over experiments.train flags (`Sweep`); experiments/grid.py expands it into
points and run names, experiments/launcher.py runs them (one process per point):

  ./launch.sh sweep list
  ./launch.sh sweep window_ns_dim --parallel 2

Each sweep's doc gives its command, its size and runtime and what it shows; what it measured
lives beside the command that made it, in docs/sweeps/NAME/ (compare.md, plots).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

Value = int | float | str | bool
Point = dict[str, Value]
# Flags set together by one grid value, e.g. {"hs": True, "num_ns": 0}: an axis of such groups
# sweeps settings that only make sense jointly.
Group = Mapping[str, Value]


@dataclasses.dataclass(frozen=True)
class Named:
  """A group of flags known by a label: its runs are named, and shown in HParams, as AXIS=label.

  For groups of many flags, such as the cumulative steps of an ablation, whose flag values would
  make unreadable run names and too many HParams columns.
  """

  label: str
  flags: Group


@dataclasses.dataclass(frozen=True)
class Sweep:
  """A grid over train flags: `doc` (command, runtime, what it shows), shared `base` flags.

  A grid axis lists values of the flag it is named after, or groups of flags (the axis name is
  then only a label).
  """

  doc: str
  grid: Mapping[str, Sequence[Value | Group | Named]]
  base: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  required: tuple[str, ...] = ()  # Flags the user must pass after `--` (e.g. a corpus path).


def cumulative(steps: Sequence[tuple[str, Mapping[str, Value]]]) -> list[Named]:
  """Named groups applying `steps` one after another: the first step's flags are the start, and
  every group sets every flag any step changes (an axis's groups must set the same flags)."""
  current: Point = {}
  for _, change in steps:
    current.update({k: v for k, v in change.items() if k not in current})
  groups = []
  for label, change in steps:
    current.update(change)
    groups.append(Named(label, dict(current)))
  return groups


# The ablation from the seed notebook to word2vec, one change at a time (docs/sweeps/
# seed_to_word2vec/README.md says why in this order). Each row trains on about the same budget
# of positive pairs, B = 56.6M (two epochs of the word2vec recipe on the bench corpus): epochs =
# round(B / the row's pairs per epoch), from the counts in that README (0.98-1.08 B).
_SEED_TO_WORD2VEC = cumulative([
    ("0_seed", {"fixed_training_set": True, "repeat_batch_order": True, "drop_remainder": True,
                "shuffle": "piece", "sequence_length": 10, "reserved_tokens": True,
                "negatives": "log_uniform", "subsampling": "zipf", "subsample": 1e-5,
                "window_size": 2, "dynamic_window": False, "loss": "softmax", "num_ns": 4,
                "optimizer": "adam", "learning_rate": 1e-3, "linear_decay": False,
                "init": "keras", "max_vocab": 4096, "min_count": 1, "standardize": "seed",
                "tie_break": "descending", "embedding_dim": 128, "epochs": 45}),
    # The data set is redrawn (subsampling, windows, negatives) and reshuffled every epoch.
    ("1_redrawn", {"fixed_training_set": False, "repeat_batch_order": False,
                   "drop_remainder": False, "shuffle": "corpus", "epochs": 45}),
    ("2_whole_lines", {"sequence_length": 0, "epochs": 20}),
    ("3_no_pad_unk", {"reserved_tokens": False, "epochs": 20}),
    ("4_unigram_negatives", {"negatives": "unigram", "epochs": 20}),
    ("5_w2v_subsampling", {"subsampling": "word2vec", "subsample": 1e-3, "epochs": 4}),
    ("6_dynamic_window_5", {"window_size": 5, "dynamic_window": True, "epochs": 3}),
    ("7_sigmoid_ns", {"loss": "sigmoid", "num_ns": 5, "epochs": 3}),
    ("8_sgd_decay", {"optimizer": "sgd", "learning_rate": 0.025, "linear_decay": True,
                     "init": "word2vec", "epochs": 3}),
    # word2vec's vocabulary: min_count 5, its text normalisation and tie order; dim 100.
    ("9_min_count_5", {"max_vocab": 0, "min_count": 5, "standardize": "unicode",
                       "tie_break": "ascending", "embedding_dim": 100, "epochs": 2}),
])

# A log file is no place for a progress bar.
_QUIET = {"progress": False}
# One model: the comparisons carry no merge effects; `merge_interval` sweeps the replicas.
_ONE_MODEL = {"replicas": 1}
# Sweeps of what only the generic step has (its batches, replicas, the seed's recipe).
_GENERIC = {"step": "generic"}

SWEEPS: dict[str, Sweep] = {
    "window_ns_dim": Sweep(
        doc="""\
./launch.sh sweep window_ns_dim --parallel 1
27 runs (window 2/5/10 x negatives 2/5/15 x dim 50/100/200), 5 epochs each on the 1M-word
small corpus: a few seconds to a minute per run on 2 CPU cores.
Shows what context width, negatives and vector size buy on analogies and WordSim-353, and what
they cost in words/s (`./launch.sh compare runs/sweeps/window_ns_dim --plots`).
Results: docs/sweeps/window_ns_dim/.""",
        base={"corpus": ["../shared/data/small-corpus.txt.gz"], "eval_every_epoch": True,
              **_QUIET, **_ONE_MODEL},
        grid={"window_size": [2, 5, 10], "num_ns": [2, 5, 15], "embedding_dim": [50, 100, 200]},
    ),
    "preset_compare": Sweep(
        doc="""\
./launch.sh sweep preset_compare [--corpus FILE]
2 runs: the word2vec recipe (5 epochs) against the seed notebook's recipe (80 epochs, 10-token
lines, 4,096 words), each as its preset defines it, on the bundled KJV unless --corpus is given:
under a minute on 2 CPU cores.
Shows what the two recipes trade in quality and time (few WordSim pairs are in the KJV).
Results: docs/sweeps/preset_compare/.""",
        base=dict(_QUIET),
        grid={"preset": ["word2vec", "seed"]},
    ),
    "batch_shared": Sweep(
        doc="""\
./launch.sh sweep batch_shared --parallel 1
8 runs (batch 256/1024/4096/16384 x shared negatives off/64), word2vec preset on the generic
step, 5 epochs on the 1M-word small corpus: 10-40 s per run on 2 CPU cores.
Shows how the generic step's batch size and BlazingText-style shared negatives trade speed
(words/s) against quality: the measurement behind its default batch of 1024 pairs.
Results: docs/sweeps/batch_shared/.""",
        base={"corpus": ["../shared/data/small-corpus.txt.gz"], **_QUIET, **_ONE_MODEL,
              **_GENERIC},
        grid={"batch_size": [256, 1024, 4096, 16384], "shared_negatives": [0, 64]},
    ),
    "tiny": Sweep(
        doc="""\
./launch.sh sweep tiny --sweep_dir /tmp/tiny --corpus TINY.txt
4 runs (window 1/2 x dim 8/16), 1 epoch, min_count 1 on a corpus of a few hundred words: a few
seconds per run, most of it start-up and compilation.
Shows that the sweep machinery works end to end (used by tests/test_sweep_e2e.py).""",
        base={"epochs": 1, "min_count": 1, "batch_size": 64, "steps_per_call": 2,
              "log_every": 4, **_QUIET},
        grid={"window_size": [1, 2], "embedding_dim": [8, 16]},
        required=("corpus",),
    ),
    "family": Sweep(
        doc="""\
./launch.sh sweep family --parallel 1
12 runs (model skip-gram/CBOW x output: 5 negatives, or hierarchical softmax with none x seed
1/2/3), word2vec preset, 5 epochs on the bench corpus: under a minute per run on 2 cores
(fused step).
Shows what the four members of the word2vec family (sg-ns, cbow-ns, sg-hs, cbow-hs) score on
analogies and WordSim-353, with the spread over seeds. Results: docs/sweeps/family/.""",
        base={"corpus": ["../shared/data/bench-corpus.txt.gz"], "epochs": 5, **_QUIET,
              **_ONE_MODEL},
        # Seeds outermost: a sweep stopped part-way has every combination at equal seeds.
        grid={"seed": [1, 2, 3],
              "model": ["skipgram", "cbow"],
              "output": [{"hs": False, "num_ns": 5}, {"hs": True, "num_ns": 0}]},
    ),
    "merge_interval": Sweep(
        doc="""\
./launch.sh sweep merge_interval --parallel 1
6 runs: one model, then 2 replicas merged by sum every 64/256/1024/4096 steps, and by mean
every 256; sg-ns on the generic step, word2vec preset, 5 epochs on the bench corpus, seed 1:
~15 min on 2 cores.
Shows what the replicas' merge interval costs in quality and buys in speed: the measurement
behind the default, sum every 256. Results: docs/sweeps/merge_interval/.""",
        base={"corpus": ["../shared/data/bench-corpus.txt.gz"], "epochs": 5, **_QUIET,
              **_GENERIC},
        grid={"seed": [1],
              "merging": [{"replicas": 1, "sync_every": 0, "merge": "sum"},
                           {"replicas": 2, "sync_every": 64, "merge": "sum"},
                           {"replicas": 2, "sync_every": 256, "merge": "sum"},
                           {"replicas": 2, "sync_every": 1024, "merge": "sum"},
                           {"replicas": 2, "sync_every": 4096, "merge": "sum"},
                           {"replicas": 2, "sync_every": 256, "merge": "mean"}]},
    ),
    "seed_to_word2vec": Sweep(
        doc="""\
./launch.sh sweep seed_to_word2vec
30 runs (seed 1/2/3 x 10 cumulative changes from the faithful seed notebook to the word2vec
recipe), on the bench corpus, each on a budget of ~57M positive pairs (two word2vec epochs), on
the generic step (its pairs of 1024): ~2 h 15 min on 2 cores (Adam rows 3-6 min each, SGD rows
~1.5 min).
Shows which of the notebook's choices cost the most: analogy accuracy (in-vocabulary questions
and all 19,544) and WordSim-353 after each change, with the spread over seeds.
Report: docs/sweeps/seed_to_word2vec/README.md.""",
        base={"corpus": ["../shared/data/bench-corpus.txt.gz"], "preset": "seed",
              "batch_size": 1024, **_QUIET, **_ONE_MODEL},
        # Seeds outermost: a sweep stopped part-way has every change at equal seeds.
        grid={"seed": [1, 2, 3], "change": _SEED_TO_WORD2VEC},
    ),
}
