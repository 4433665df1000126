"""A run's settings: one frozen section per stage, each checked where it is defined.

  Config
    corpus     CorpusConfig      text -> vocabulary -> ids          (w2v_jax.corpus)
    examples   ExamplesConfig    ids -> windows or pairs, batches   (w2v_jax.data, pipeline)
    objective  ObjectiveConfig   what is trained on them            (w2v_jax.objectives, fused)
    optimizer  OptimizerConfig   the Optax transform                (w2v_jax.step)
    devices    DevicesConfig     which step, where, how many        (w2v_jax.step_choice, placement)
    run        RunConfig         epochs, seed, logs, evaluation     (w2v_jax.train, loop)

Every field is a flag of experiments/train.py under its own name (`--window_size`), so a
config is also a flat {flag: value} mapping (`flat`, `from_flat`): config.json holds that, with
every `auto` resolved (`resolve`), so a run's file says what it trained.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

DEFAULT_CORPUS = os.path.join(os.path.dirname(__file__), "data", "kjv.txt.gz")

STANDARDIZE = ("unicode", "seed", "none")
TIE_BREAKS = ("ascending", "descending")
LAYOUTS = ("auto", "windows", "pairs", "sentences")  # sentences: the fused step's (resolved).
SUBSAMPLING = ("word2vec", "zipf", "none")
SHUFFLES = ("corpus", "piece")
MODELS = ("skipgram", "cbow")
SKIPGRAM_INPUTS = ("auto", "context", "centre")
INITS = ("auto", "word2vec", "fasttext", "keras")
NEGATIVES_PER = ("window", "pair")
NEGATIVES = ("unigram", "log_uniform")
LOSSES = ("sigmoid", "softmax")
OPTIMIZERS = ("sgd", "adam", "adagrad")
STEPS = ("auto", "fused", "generic")
MERGES = ("sum", "mean")
TABLE_SHARDING = ("replicated", "rows")
# Tokens per step of the fused step (whole sentences; word2vec.c's are at most 1,000 tokens).
FUSED_TOKENS_PER_STEP = 4096


def _field(default, help_text: str):
  """A field with its flag's help text (experiments/train.py makes one flag per field)."""
  return dataclasses.field(default=default, metadata={"help": help_text})


def _check(rules: list[tuple[bool, str, str]], section: Any) -> None:
  """Raises ValueError `--flag=value: message` for the first rule that fails."""
  for ok, name, message in rules:
    if not ok:
      raise ValueError(f"--{name}={getattr(section, name)!r}: {message}")


def _choices(section: Any, choices: Mapping[str, tuple[str, ...]]) -> list:
  return [(getattr(section, name) in allowed, name, f"must be one of {', '.join(allowed)}")
          for name, allowed in choices.items()]


@dataclasses.dataclass(frozen=True)
class CorpusConfig:
  """Text in, vocabulary and ids out: everything that decides the encoded corpus."""

  corpus: tuple[str, ...] = _field(
      (DEFAULT_CORPUS,), "Text files or directories (.gz/.bz2 ok); default: bundled KJV.")
  standardize: str = _field("unicode", f"Text normalisation: {', '.join(STANDARDIZE)}.")
  min_count: int = _field(5, "Drop words rarer than this.")
  max_vocab: int | None = _field(None, "Keep at most this many words (0 = no limit).")
  reserved_tokens: bool = _field(False, "'' (padding) and [UNK] as ids 0 and 1, as Keras does.")
  tie_break: str = _field("ascending", "Order of words with equal counts: ascending, descending.")
  sequence_length: int | None = _field(
      None, "Pad/truncate every line to this many ids, the seed's 10 (0 = whole lines).")

  def __post_init__(self):
    _check(_choices(self, {"standardize": STANDARDIZE, "tie_break": TIE_BREAKS}) + [
        (len(self.corpus) > 0, "corpus", "needs at least one path"),
        (self.min_count >= 1, "min_count", "must be >= 1"),
        (self.max_vocab is None or self.max_vocab >= 3, "max_vocab", "must be >= 3"),
        (self.sequence_length is None or self.sequence_length >= 2, "sequence_length",
         "must be >= 2"),
    ], self)


@dataclasses.dataclass(frozen=True)
class ExamplesConfig:
  """How the ids become training examples and batches."""

  layout: str = _field(
      "auto", "windows: one example per centre word and its window (word2vec.c's grouping); "
      "pairs: one per (target, context) pair, shuffled; auto: the fused step's whole "
      "sentences, else pairs for skip-gram with negative sampling alone and the context as "
      "input (faster per pair on the CPU), else windows.")
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
  batch_size: int = _field(
      0, "Examples per step; 0: 1024 pairs (256 with --subwords) or 128 windows (~700 pairs); "
      f"with the fused step, tokens of whole sentences ({FUSED_TOKENS_PER_STEP}).")
  steps_per_call: int = _field(32, "Steps fused into one jitted lax.scan.")

  def __post_init__(self):
    _check(_choices(self, {"layout": LAYOUTS, "subsampling": SUBSAMPLING,
                           "shuffle": SHUFFLES}) + [
        (self.window_size >= 1, "window_size", "must be >= 1"),
        (self.subsample >= 0, "subsample", "must be >= 0"),
        (self.batch_size >= 0, "batch_size", "must be >= 0"),
        (self.steps_per_call >= 1, "steps_per_call", "must be >= 1"),
    ], self)

  @property
  def slots(self) -> int:
    """Context slots per example: a window's 2W, a pair's one (a sentence's token: none)."""
    return {"windows": 2 * self.window_size, "pairs": 1}.get(self.layout, 0)


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
  """What is trained: the tables, the input words' encoding and the output layers."""

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

  def __post_init__(self):
    _check(_choices(self, {"model": MODELS, "skipgram_input": SKIPGRAM_INPUTS, "init": INITS,
                           "negatives_per": NEGATIVES_PER, "negatives": NEGATIVES,
                           "loss": LOSSES}) + [
        (self.num_ns >= 0, "num_ns", "must be >= 0"),
        (self.num_ns >= 1 or self.hs, "num_ns", "must be >= 1 without --hs"),
        (self.embedding_dim >= 1, "embedding_dim", "must be >= 1"),
        (self.ns_exponent >= 0, "ns_exponent", "must be >= 0"),
        (self.shared_negatives >= 0, "shared_negatives", "must be >= 0"),
        (not self.shared_negatives or self.loss == "sigmoid", "shared_negatives",
         "needs --loss=sigmoid"),
        (self.window_negatives >= 0, "window_negatives", "must be >= 0"),
        (self.model == "cbow" or self.cbow_mean, "cbow_mean", "is a CBOW setting (--model=cbow)"),
        (self.model == "cbow" or not self.cbow_koan, "cbow_koan",
         "is a CBOW setting (--model=cbow)"),
        (self.model == "skipgram" or self.negatives_per == "window", "negatives_per",
         "per-pair negatives need --model=skipgram"),
        (not (self.shared_negatives and self.negatives_per == "pair"), "shared_negatives",
         "cannot be combined with --negatives_per=pair"),
        (not self.subwords or self.minn >= 1, "minn", "must be >= 1"),
        (not self.subwords or self.minn <= self.maxn, "minn", f"must be <= --maxn={self.maxn}"),
        (not self.subwords or self.bucket >= 1, "bucket", "must be >= 1 with --subwords"),
        (not (self.subwords and self.model == "cbow") or (self.cbow_mean and not self.cbow_koan),
         "subwords", "CBOW with subwords is fastText's mean of every input row: drop "
         "--nocbow_mean / --cbow_koan"),
    ], self)

  @property
  def cbow_mode(self) -> str:
    """The objective's CBOW mode: mean, sum or koan."""
    if self.cbow_koan:
      return "koan"
    return "mean" if self.cbow_mean else "sum"

  @property
  def centre_input_allowed(self) -> bool:
    """Whether skip-gram may take the centre as its input: negative sampling alone."""
    return (self.model == "skipgram" and self.num_ns >= 1 and not self.hs
            and self.loss == "sigmoid")

  def input_word(self, layout: str) -> str:
    """Skip-gram's input word, auto resolved: centre with subwords where allowed, else context."""
    if self.skipgram_input != "auto":
      return self.skipgram_input
    auto_centre = self.subwords and self.centre_input_allowed and layout != "pairs"
    return "centre" if auto_centre else "context"


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  """The Optax transform and its learning-rate schedule."""

  optimizer: str = _field("sgd", f"Optax optimizer: {', '.join(OPTIMIZERS)}.")
  learning_rate: float = _field(0.025, "Initial learning rate.")
  min_learning_rate_ratio: float = _field(
      1e-4, "Linear decay ends at this fraction of the learning rate (word2vec.c: 1e-4).")
  linear_decay: bool = _field(True, "Decay the learning rate linearly (else constant).")

  def __post_init__(self):
    _check(_choices(self, {"optimizer": OPTIMIZERS}) + [
        (self.learning_rate > 0, "learning_rate", "must be > 0"),
        (0 <= self.min_learning_rate_ratio <= 1, "min_learning_rate_ratio", "must be in [0, 1]"),
    ], self)


@dataclasses.dataclass(frozen=True)
class DevicesConfig:
  """Which step trains, on how many threads, replicas or devices."""

  step: str = _field(
      "auto", "fused: a compiled loop per window on the CPU, hogwild over --threads (the "
      "built-in objectives with SGD); generic: the autodiff step (any objective, optimizer or "
      "device); auto: fused where it can run, else generic.")
  threads: int = _field(
      0, "Fused step: threads training at once, lock-free as word2vec.c's (0: the cores this "
      "process may use). 1 is deterministic: the same seed gives the same vectors.")
  replicas: int = _field(
      1, "Independent copies of the tables, one per device, each training its share of the "
      "examples (0: one per local device; experiments.train makes a CPU's cores host devices). "
      "1 (default): one model, the batch split over all devices.")
  sync_every: int = _field(
      256, "Steps between merges of the replicas (0: never); 256 by the merge_interval sweep.")
  merge: str = _field(
      "sum", "How replicas merge: sum of their changes since the last merge (lock-free "
      "threads' semantics, no update lost) or mean of their tables.")
  table_sharding: str = _field(
      "replicated", "With --replicas=1: replicate the tables over the devices or split them by "
      "rows.")

  def __post_init__(self):
    _check(_choices(self, {"step": STEPS, "merge": MERGES, "table_sharding": TABLE_SHARDING}) + [
        (self.threads >= 0, "threads", "must be >= 0"),
        (self.replicas >= 0, "replicas", "must be >= 0"),
        (self.sync_every >= 0, "sync_every", "must be >= 0"),
    ], self)


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """The run as a whole: how long, from which seed, what it logs, evaluates and shows."""

  preset: str = _field("word2vec", "Which preset these settings started from.")
  epochs: int = _field(5, "Passes over the corpus.")
  seed: int = _field(0, "Seed for initialisation, examples and negatives.")
  log_every: int = _field(200, "Steps between metric logs (rounded up to whole calls).")
  checkpoint_every: int = _field(20000, "Steps between checkpoints (0 = end only).")
  eval_every_epoch: bool = _field(False, "Evaluate analogies and WordSim after every epoch.")
  analogies: str | None = _field(None, "questions-words.txt-style file (default: bundled).")
  wordsim: str | None = _field(None, "wordsim353.tsv-style file (default: bundled).")
  show_words: tuple[str, ...] = _field(
      ("god", "king", "jesus", "egypt", "gold", "sword", "water", "said"),
      "Words whose neighbours are printed at the end.")
  progress: bool = _field(True, "Show a progress bar.")

  def __post_init__(self):
    _check([
        (self.epochs >= 1, "epochs", "must be >= 1"),
        (self.log_every >= 1, "log_every", "must be >= 1"),
        (self.checkpoint_every >= 0, "checkpoint_every", "must be >= 0"),
    ], self)


SECTIONS = {"corpus": CorpusConfig, "examples": ExamplesConfig, "objective": ObjectiveConfig,
            "optimizer": OptimizerConfig, "devices": DevicesConfig, "run": RunConfig}
# Each flag's section.
SECTION_OF = {f.name: section for section, cls in SECTIONS.items()
              for f in dataclasses.fields(cls)}


@dataclasses.dataclass(frozen=True)
class Config:
  """Every setting of a run, by stage; `presets()` gives the two named starting points."""

  corpus: CorpusConfig = dataclasses.field(default_factory=CorpusConfig)
  examples: ExamplesConfig = dataclasses.field(default_factory=ExamplesConfig)
  objective: ObjectiveConfig = dataclasses.field(default_factory=ObjectiveConfig)
  optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
  devices: DevicesConfig = dataclasses.field(default_factory=DevicesConfig)
  run: RunConfig = dataclasses.field(default_factory=RunConfig)

  def __post_init__(self):  # The rules that span two sections.
    o, e = self.objective, self.examples
    input_word = o.input_word(e.layout)
    _check([
        (o.model == "skipgram" or e.layout != "pairs", "layout", "CBOW needs --layout=windows"),
        (e.layout != "pairs" or o.negatives_per == "window", "negatives_per",
         "per-pair negatives need --layout=windows (a pair has one set already)"),
        (not (o.shared_negatives and e.fixed_training_set), "shared_negatives",
         "cannot be combined with --fixed_training_set (its negatives belong to examples)"),
        (input_word == "context" or o.centre_input_allowed, "skipgram_input",
         "centre needs --model=skipgram with negative sampling alone (--num_ns >= 1, no --hs, "
         "--loss=sigmoid)"),
        (input_word == "context" or e.layout != "pairs", "skipgram_input",
         "centre needs --layout=windows (a pair has one context already)"),
        (not o.window_negatives or (input_word == "centre" and o.negatives_per == "window"),
         "window_negatives", "needs the centre as skip-gram's input (--skipgram_input) and "
         "--negatives_per=window"),
    ], _Flat(self))

  def flat(self) -> dict[str, Any]:
    """{flag: value} over every section (tuples as lists: what config.json holds)."""
    return {k: list(v) if isinstance(v, tuple) else v
            for section in SECTIONS for k, v in dataclasses.asdict(getattr(self, section)).items()}

  def replace(self, **flags: Any) -> "Config":
    """A copy with the given flags changed, each in its own section; checked again."""
    unknown = sorted(set(flags) - set(SECTION_OF))
    if unknown:
      raise ValueError(f"--{unknown[0]}: no such setting")
    sections = {}
    for section in SECTIONS:
      changes = {k: v for k, v in flags.items() if SECTION_OF[k] == section}
      if changes:
        sections[section] = dataclasses.replace(getattr(self, section), **changes)
    return dataclasses.replace(self, **sections)


class _Flat:
  """Attribute access to every flag of a config, for the messages of cross-section rules."""

  def __init__(self, config: Config):
    self._config = config

  def __getattr__(self, name: str) -> Any:
    return getattr(getattr(self._config, SECTION_OF[name]), name)


def from_flat(values: Mapping[str, Any], base: Config | None = None) -> Config:
  """A Config from {flag: value} (config.json, flags): lists become tuples, unknown keys error."""
  values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
  return (base or Config()).replace(**values)


def make(**flags: Any) -> Config:
  """The default config with the given flags: `make(model="cbow", epochs=1)`."""
  return Config().replace(**flags)


# ---- auto, resolved once ---------------------------------------------------------------------

def resolve(config: Config, *, step: str, threads: int = 1) -> Config:
  """`config` with every `auto` (and 0 meaning a default) replaced by what it stands for.

  `step` ("fused" or "generic") and `threads` are what the run found it can use (train.py);
  the rest follows from the settings. Idempotent: a resolved config resolves to itself.
  """
  o, e = config.objective, config.examples
  if step not in ("fused", "generic"):
    raise ValueError(f"resolve: step must be fused or generic, not {step!r}")
  if step == "fused":
    layout = "sentences"
  elif e.layout not in ("auto", "sentences"):
    layout = e.layout
  else:
    ns_only = (not o.hs and o.negatives_per == "window"
               and o.input_word("windows") == "context")
    layout = "pairs" if o.model == "skipgram" and ns_only else "windows"
  if e.batch_size:
    batch_size = e.batch_size
  elif layout == "sentences":
    batch_size = FUSED_TOKENS_PER_STEP
  elif layout == "windows":
    batch_size = 128
  else:
    # With subwords, 1024 pairs' n-gram rows (~1.5 MB gathered, as much scattered) outgrow a
    # core's L2 cache: 21.6 s an epoch of the small corpus against 16.1 s at 256 (AMD EPYC).
    batch_size = 256 if o.subwords else 1024
  init = o.init if o.init != "auto" else ("fasttext" if o.subwords else "word2vec")
  return config.replace(
      layout=layout, batch_size=batch_size, skipgram_input=o.input_word(e.layout), init=init,
      step=step, threads=threads if step == "fused" else config.devices.threads)


# ---- resuming ------------------------------------------------------------------------------

# Settings a resumed run may change: they decide what is logged, shown or saved (or, threads,
# how fast it goes), not the vectors.
RESUME_MAY_CHANGE = frozenset({"log_every", "checkpoint_every", "eval_every_epoch", "analogies",
                               "wordsim", "show_words", "progress", "threads", "preset"})
# Settings a run saved before they existed had, in effect.
BEFORE_ADDED = {"skipgram_input": "context", "step": "generic"}


def with_settings_added_since(saved: Mapping[str, Any]) -> dict[str, Any]:
  """A run's config.json, of any version of w2v_jax, with the settings added since it was
  written at the value they had in effect."""
  return {**BEFORE_ADDED, **saved}


def saved_config(saved: Mapping[str, Any]) -> Config:
  """The resolved Config of a run's config.json, of any version of w2v_jax (auto resolves as
  it did when it was saved)."""
  values = {k: v for k, v in with_settings_added_since(saved).items() if k in SECTION_OF}
  config = from_flat(values)
  return resolve(config, step=config.devices.step, threads=config.devices.threads)


def resume_differences(saved: Mapping[str, Any], config: Config) -> list[str]:
  """`--flag=value (the run has: value)` for each setting, resolved, that differs from a run's
  config.json."""
  try:
    was = saved_config(saved).flat()
  except (TypeError, ValueError):
    was = with_settings_added_since(saved)
  now = config.flat()
  return [f"--{k}={now.get(k)!r} (the run has {was.get(k)!r})"
          for k in sorted(set(now) | set(was))
          if k not in RESUME_MAY_CHANGE and now.get(k) != was.get(k)]


def presets() -> dict[str, Config]:
  """'word2vec': gensim's / word2vec.c's defaults. 'seed': the original notebook's pipeline."""
  return {
      "word2vec": Config(),
      "seed": make(
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
