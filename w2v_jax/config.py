"""Typed run configuration and two presets: word2vec's recipe (default) and the seed notebook."""

from __future__ import annotations

import dataclasses
import os

DEFAULT_CORPUS = os.path.join(os.path.dirname(__file__), "data", "kjv.txt.gz")

OPTIMIZERS = ("sgd", "adam", "adagrad")
LOSSES = ("sigmoid", "softmax")
NEGATIVES = ("unigram", "log_uniform")
SUBSAMPLING = ("word2vec", "zipf", "none")
INITS = ("auto", "word2vec", "fasttext", "keras")
STANDARDIZE = ("unicode", "seed", "none")
TABLE_SHARDING = ("replicated", "rows")
# w2v_jax.data's and w2v_jax.objectives' choices; not imported, so configs stay light.
SHUFFLES = ("corpus", "piece")
LAYOUTS = ("auto", "windows", "pairs")
MODELS = ("skipgram", "cbow")
NEGATIVES_PER = ("window", "pair")
SKIPGRAM_INPUTS = ("auto", "context", "centre")
TIE_BREAKS = ("ascending", "descending")
MERGES = ("sum", "mean")  # w2v_jax.replicas.MERGES.
STEPS = ("auto", "fused", "generic")
# Tokens per step of the fused step (whole sentences; word2vec.c's are at most 1,000 tokens).
FUSED_TOKENS_PER_STEP = 4096


def _field(default, help_text: str):
  """A Config field with its flag's help text (experiments/train.py makes one flag per field)."""
  return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class Config:
  """Every setting of a run; `presets()` gives the two named starting points."""

  preset: str = _field("word2vec", "Which preset these settings started from.")
  corpus: tuple[str, ...] = _field(
      (DEFAULT_CORPUS,), "Text files or directories (.gz/.bz2 ok); default: bundled KJV.")
  # Text and vocabulary.
  standardize: str = _field("unicode", f"Text normalisation: {', '.join(STANDARDIZE)}.")
  min_count: int = _field(5, "Drop words rarer than this.")
  max_vocab: int | None = _field(None, "Keep at most this many words (0 = no limit).")
  reserved_tokens: bool = _field(False, "'' (padding) and [UNK] as ids 0 and 1, as Keras does.")
  tie_break: str = _field("ascending", "Order of words with equal counts: ascending, descending.")
  sequence_length: int | None = _field(
      None, "Pad/truncate every line to this many ids, the seed's 10 (0 = whole lines).")
  # Examples.
  layout: str = _field(
      "auto", "windows: one example per centre word and its window (word2vec.c's grouping); "
      "pairs: one per (target, context) pair, shuffled; auto: pairs for skip-gram with "
      "negative sampling alone and the context as input (faster per pair on the CPU, README), "
      "else windows.")
  window_size: int = _field(5, "Maximum context distance.")
  dynamic_window: bool = _field(True, "Radius uniform in [1, window_size] per centre.")
  subsample: float = _field(1e-3, "Subsampling threshold t (word2vec) or Zipf factor (seed).")
  subsampling: str = _field("word2vec", f"Subsampling rule: {', '.join(SUBSAMPLING)}.")
  shuffle: str = _field(
      "corpus", "corpus: batches mix random sentences of the whole corpus; piece: one stretch of "
      "~16k tokens (as the seed's tf.data shuffle buffer).")
  fixed_training_set: bool = _field(
      False, "Draw the examples (subsampling, windows, negatives) once and train every epoch on "
      "them, as the seed's generate_training_data did; else redraw them every epoch.")
  repeat_batch_order: bool = _field(
      False, "Replay the first epoch's example order in every epoch, as the seed's cached "
      "tf.data pipeline did; else reshuffle every epoch.")
  drop_remainder: bool = _field(
      False, "Start every epoch on a new batch and drop its last partial one (tf.data's "
      "drop_remainder); else batches run across epoch ends.")
  # Model and loss.
  model: str = _field("skipgram", f"Architecture: {', '.join(MODELS)}.")
  hs: bool = _field(False, "Hierarchical softmax (adds to negative sampling unless --num_ns 0).")
  cbow_mean: bool = _field(True, "CBOW: mean of the context rows (else their sum).")
  cbow_koan: bool = _field(False, "CBOW: divide the error by the context count (koan).")
  subwords: bool = _field(
      False, "fastText: a word's input is the mean of its row and its character n-gram rows, "
      "so any word, seen or not, gets a vector.")
  minn: int = _field(3, "With --subwords: shortest n-gram, in characters.")
  maxn: int = _field(6, "With --subwords: longest n-gram, in characters.")
  bucket: int = _field(
      2_000_000, "With --subwords: rows the n-grams are hashed into (memory: bucket x dim x 4 "
      "bytes per table; fewer rows, more collisions).")
  skipgram_input: str = _field(
      "auto", "Skip-gram's input word: context (word2vec.c: each context word predicts the "
      "centre) or centre (fastText: the centre predicts each context word, its subwords "
      "composed once per window); auto: centre with --subwords and negative sampling alone, "
      "else context.")
  embedding_dim: int = _field(100, "Vector size.")
  init: str = _field("auto", f"Table initialisation: {', '.join(INITS)}; auto: fasttext with "
                     "--subwords, else word2vec.")
  num_ns: int = _field(5, "Negatives per prediction (0: hierarchical softmax only).")
  negatives_per: str = _field(
      "window", "window: one set of negatives per centre (HogBatch); pair: per (context, centre) "
      "pair, as word2vec.c.")
  window_negatives: int = _field(
      0, "With the centre as skip-gram's input and --negatives_per window: negatives drawn per "
      "window, shared by its pairs, each weighing num_ns / window_negatives (0: 2 x num_ns).")
  negatives: str = _field("unigram", f"Noise distribution: {', '.join(NEGATIVES)}.")
  ns_exponent: float = _field(0.75, "Exponent of the unigram noise distribution.")
  negatives_on_host: bool = _field(
      True, "Draw unigram negatives in the input pipeline (NumPy, on a spare core).")
  shared_negatives: int = _field(
      0, "> 0: one pool of this many negatives shared by each batch (BlazingText).")
  loss: str = _field("sigmoid", "sigmoid = negative sampling; softmax over 1 + K (the seed's).")
  # The step.
  step: str = _field(
      "auto", "fused: a compiled loop per window on the CPU, hogwild over --threads (the "
      "built-in objectives with SGD); generic: the autodiff step (any objective, optimizer or "
      "device); auto: fused where it can run, else generic.")
  threads: int = _field(
      0, "Fused step: threads training at once, lock-free as word2vec.c's (0: the cores this "
      "process may use). 1 is deterministic: the same seed gives the same vectors.")
  # Optimisation.
  optimizer: str = _field("sgd", f"Optax optimizer: {', '.join(OPTIMIZERS)}.")
  learning_rate: float = _field(0.025, "Initial learning rate.")
  min_learning_rate_ratio: float = _field(
      1e-4, "Linear decay ends at this fraction of the learning rate (word2vec.c: 1e-4).")
  linear_decay: bool = _field(True, "Decay the learning rate linearly (else constant).")
  epochs: int = _field(5, "Passes over the corpus.")
  batch_size: int = _field(0, "Examples per step; 0: 1024 pairs (256 with --subwords) or 128 "
                           "windows (~700 pairs; with --subwords, skip-gram's default); with "
                           f"--step fused, tokens of whole sentences ({FUSED_TOKENS_PER_STEP}).")
  steps_per_call: int = _field(32, "Steps fused into one jitted lax.scan.")
  replicas: int = _field(
      1, "Independent copies of the tables, one per device, each training its share of the "
      "examples (0: one per local device; experiments.train makes a CPU's cores host devices). "
      "1 (default, by the throughput benchmark on a 2-core EPYC): one model, the batch split "
      "over all devices.")
  sync_every: int = _field(
      256, "Steps between merges of the replicas (0: never); 256 by the merge_interval sweep.")
  merge: str = _field(
      "sum", "How replicas merge: sum of their changes since the last merge (lock-free "
      "threads' semantics, no update lost) or mean of their tables.")
  table_sharding: str = _field(
      "replicated", "With --replicas=1: replicate the tables over the devices or split them by "
      "rows.")
  seed: int = _field(0, "Seed for initialisation, examples and negatives.")
  # Logging, evaluation, checkpoints.
  log_every: int = _field(200, "Steps between metric logs (rounded up to whole calls).")
  checkpoint_every: int = _field(20000, "Steps between checkpoints (0 = end only).")
  eval_every_epoch: bool = _field(False, "Evaluate analogies and WordSim after every epoch.")
  analogies: str | None = _field(None, "questions-words.txt-style file (default: bundled).")
  wordsim: str | None = _field(None, "wordsim353.tsv-style file (default: bundled).")
  show_words: tuple[str, ...] = _field(
      ("god", "king", "jesus", "egypt", "gold", "sword", "water", "said"),
      "Words whose neighbours are printed at the end.")
  progress: bool = _field(True, "Show a progress bar.")

  @property
  def table_init(self) -> str:
    """The init `auto` stands for: fastText's with subwords (its inputs start twice as wide)."""
    if self.init != "auto":
      return self.init
    return "fasttext" if self.subwords else "word2vec"

  @property
  def input_word(self) -> str:
    """Skip-gram's input word, `skipgram_input` with auto resolved: "context" or "centre"."""
    if self.skipgram_input != "auto":
      return self.skipgram_input
    centre_ok = (self.model == "skipgram" and self.num_ns and not self.hs
                 and self.loss == "sigmoid" and self.layout != "pairs")
    return "centre" if self.subwords and centre_ok else "context"

  @property
  def example_layout(self) -> str:
    """The layout `auto` stands for: windows where a model needs them, else pairs; the fused
    step takes whole sentences."""
    if self.step == "fused":
      return "sentences"
    if self.layout != "auto":
      return self.layout
    ns_only = not self.hs and self.negatives_per == "window" and self.input_word == "context"
    return "pairs" if self.model == "skipgram" and ns_only else "windows"

  @property
  def examples_per_step(self) -> int:
    if self.batch_size:
      return self.batch_size
    if self.example_layout == "sentences":
      return FUSED_TOKENS_PER_STEP
    if self.example_layout == "windows":
      return 128
    # With subwords, 1024 pairs' n-gram rows (~1.5 MB gathered, as much scattered) outgrow a
    # core's L2 cache: 21.6 s an epoch of the small corpus against 16.1 s at 256 (AMD EPYC).
    return 256 if self.subwords else 1024

  @property
  def cbow_mode(self) -> str:
    """The objective's CBOW mode (w2v_jax.objectives.CBOW_MODES)."""
    if self.cbow_koan:
      return "koan"
    return "mean" if self.cbow_mean else "sum"

  def validate(self) -> None:
    """Raises ValueError naming the first setting that makes no sense."""
    checks = [
        (self.window_size >= 1, "window_size", "must be >= 1"),
        (self.num_ns >= 0, "num_ns", "must be >= 0"),
        (self.num_ns >= 1 or self.hs, "num_ns", "must be >= 1 without --hs"),
        (self.embedding_dim >= 1, "embedding_dim", "must be >= 1"),
        (self.epochs >= 1, "epochs", "must be >= 1"),
        (self.batch_size >= 0, "batch_size", "must be >= 0"),
        (self.steps_per_call >= 1, "steps_per_call", "must be >= 1"),
        (self.replicas >= 0, "replicas", "must be >= 0"),
        (self.sync_every >= 0, "sync_every", "must be >= 0"),
        (self.learning_rate > 0, "learning_rate", "must be > 0"),
        (self.min_count >= 1, "min_count", "must be >= 1"),
        (self.max_vocab is None or self.max_vocab >= 3, "max_vocab", "must be >= 3"),
        (self.subsample >= 0, "subsample", "must be >= 0"),
        (self.sequence_length is None or self.sequence_length >= 2, "sequence_length",
         "must be >= 2"),
        (self.log_every >= 1, "log_every", "must be >= 1"),
        (self.threads >= 0, "threads", "must be >= 0"),
        (self.shared_negatives >= 0, "shared_negatives", "must be >= 0"),
        (not self.shared_negatives or self.loss == "sigmoid", "shared_negatives",
         "needs --loss=sigmoid"),
        (self.checkpoint_every >= 0, "checkpoint_every", "must be >= 0"),
        (self.model == "cbow" or self.cbow_mean, "cbow_mean", "is a CBOW setting (--model=cbow)"),
        (self.model == "cbow" or not self.cbow_koan, "cbow_koan",
         "is a CBOW setting (--model=cbow)"),
        (self.model == "skipgram" or self.layout != "pairs", "layout",
         "CBOW needs --layout=windows"),
        (self.model == "skipgram" or self.negatives_per == "window", "negatives_per",
         "per-pair negatives need --model=skipgram"),
        (self.layout != "pairs" or self.negatives_per == "window", "negatives_per",
         "per-pair negatives need --layout=windows (a pair has one set already)"),
        (not (self.shared_negatives and self.negatives_per == "pair"), "shared_negatives",
         "cannot be combined with --negatives_per=pair"),
        (not (self.shared_negatives and self.fixed_training_set), "shared_negatives",
         "cannot be combined with --fixed_training_set (its negatives belong to examples)"),
        (self.input_word == "context" or (self.model == "skipgram" and self.num_ns >= 1
                                          and not self.hs and self.loss == "sigmoid"),
         "skipgram_input", "centre needs --model=skipgram with negative sampling alone "
         "(--num_ns >= 1, no --hs, --loss=sigmoid)"),
        (self.input_word == "context" or self.layout != "pairs", "skipgram_input",
         "centre needs --layout=windows (a pair has one context already)"),
        (self.window_negatives >= 0, "window_negatives", "must be >= 0"),
        (not self.window_negatives or (self.input_word == "centre"
                                       and self.negatives_per == "window"),
         "window_negatives", "needs the centre as skip-gram's input (--skipgram_input) and "
         "--negatives_per=window"),
        (not self.subwords or self.minn >= 1, "minn", "must be >= 1"),
        (not self.subwords or self.minn <= self.maxn, "minn", f"must be <= --maxn={self.maxn}"),
        (not self.subwords or self.bucket >= 1, "bucket", "must be >= 1 with --subwords"),
        (not (self.subwords and self.model == "cbow") or (self.cbow_mean and not self.cbow_koan),
         "subwords", "CBOW with subwords is fastText's mean of every input row: drop "
         "--nocbow_mean / --cbow_koan"),
        (self.ns_exponent >= 0, "ns_exponent", "must be >= 0"),
        (0 <= self.min_learning_rate_ratio <= 1, "min_learning_rate_ratio",
         "must be in [0, 1]"),
        (len(self.corpus) > 0, "corpus", "needs at least one path"),
    ]
    choices = [
        ("optimizer", OPTIMIZERS), ("loss", LOSSES), ("negatives", NEGATIVES),
        ("subsampling", SUBSAMPLING), ("standardize", STANDARDIZE),
        ("table_sharding", TABLE_SHARDING), ("init", INITS), ("shuffle", SHUFFLES),
        ("layout", LAYOUTS), ("model", MODELS), ("negatives_per", NEGATIVES_PER),
        ("tie_break", TIE_BREAKS), ("merge", MERGES), ("skipgram_input", SKIPGRAM_INPUTS),
        ("step", STEPS),
    ]
    checks = [(getattr(self, name) in allowed, name, f"must be one of {', '.join(allowed)}")
              for name, allowed in choices] + checks
    for ok, name, message in checks:
      if not ok:
        raise ValueError(f"--{name}={getattr(self, name)!r}: {message}")


# Settings a resumed run may change: they decide what is logged, shown or saved, not the vectors.
RESUME_MAY_CHANGE = frozenset({"log_every", "checkpoint_every", "eval_every_epoch", "analogies",
                               "wordsim", "show_words", "progress", "threads"})


# Settings whose `auto` stands for another value: compared by what they stand for, so a run saved
# before `auto` existed resumes under the default that means the same. A setting missing from an
# older run's config.json had the value given here.
RESOLVED = {"init": "table_init", "skipgram_input": "input_word"}
BEFORE_ADDED = {"skipgram_input": "context", "step": "generic"}


def resume_differences(saved: dict, config: Config) -> list[str]:
  """`--flag=value (the run has: value)` for each setting that differs from a run's config.json."""
  current = {k: list(v) if isinstance(v, tuple) else v
             for k, v in dataclasses.asdict(config).items()}
  saved = {**BEFORE_ADDED, **saved}
  fields = {f.name for f in dataclasses.fields(Config)}
  try:
    was = Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()
                    if k in fields})
  except TypeError:
    was = None

  def same(k):
    if k in RESOLVED and was is not None:
      return getattr(was, RESOLVED[k]) == getattr(config, RESOLVED[k])
    return current.get(k) == saved.get(k)

  return [f"--{k}={current.get(k)!r} (the run has {saved.get(k)!r})"
          for k in sorted(set(current) | set(saved)) if k not in RESUME_MAY_CHANGE and not same(k)]


def presets() -> dict[str, Config]:
  """'word2vec': gensim's / word2vec.c's defaults. 'seed': the original notebook's pipeline."""
  return {
      "word2vec": Config(),
      "seed": Config(
          preset="seed",
          standardize="seed",
          min_count=1,
          max_vocab=4096,
          reserved_tokens=True,
          tie_break="descending",
          sequence_length=10,
          layout="pairs",
          window_size=2,
          dynamic_window=False,
          subsample=1e-5,
          subsampling="zipf",
          shuffle="piece",
          fixed_training_set=True,
          repeat_batch_order=True,
          drop_remainder=True,
          embedding_dim=128,
          num_ns=4,
          negatives="log_uniform",
          loss="softmax",
          optimizer="adam",
          learning_rate=1e-3,
          linear_decay=False,
          epochs=80,
          batch_size=1024,
          init="keras",
          replicas=1,  # One model, as the notebook trained.
      ),
  }
