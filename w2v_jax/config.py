"""Typed run configuration and two presets: word2vec's recipe (default) and the seed notebook."""

from __future__ import annotations

import dataclasses
import os

DEFAULT_CORPUS = os.path.join(os.path.dirname(__file__), "data", "kjv.txt.gz")

OPTIMIZERS = ("sgd", "adam", "adagrad")
LOSSES = ("sigmoid", "softmax")
NEGATIVES = ("unigram", "log_uniform")
SUBSAMPLING = ("word2vec", "zipf", "none")
INITS = ("word2vec", "keras")
STANDARDIZE = ("unicode", "seed", "none")
TABLE_SHARDING = ("replicated", "rows")
SHUFFLES = ("corpus", "piece")  # w2v_jax.data.SHUFFLES; not imported, so configs stay light.


@dataclasses.dataclass(frozen=True)
class Config:
  """Every setting of a run; `presets()` gives the two named starting points."""

  preset: str = "word2vec"  # Which preset these settings started from (for logs and reports).
  corpus: tuple[str, ...] = (DEFAULT_CORPUS,)
  # Text and vocabulary.
  standardize: str = "unicode"
  min_count: int = 5
  max_vocab: int | None = None
  reserved_tokens: bool = False  # '' (padding) and [UNK] as ids 0 and 1, as Keras does.
  tie_break: str = "ascending"
  sequence_length: int | None = None  # Pad/truncate every line to this many ids (the seed's 10).
  # Pairs.
  window_size: int = 5
  dynamic_window: bool = True
  subsample: float = 1e-3
  subsampling: str = "word2vec"
  # "corpus": every batch mixes sentences from the whole corpus; "piece": from one stretch of
  # ~16k tokens (the seed's tf.data shuffle buffer is similarly local).
  shuffle: str = "corpus"
  # Model and loss.
  embedding_dim: int = 100
  init: str = "word2vec"
  num_ns: int = 5
  negatives: str = "unigram"
  ns_exponent: float = 0.75
  # Draw unigram negatives in the input pipeline (NumPy, on a spare core) instead of in the step.
  negatives_on_host: bool = True
  # > 0: one pool of this many negatives per batch, shared by all its pairs (BlazingText).
  shared_negatives: int = 0
  loss: str = "sigmoid"
  # Optimisation.
  optimizer: str = "sgd"
  learning_rate: float = 0.025
  min_learning_rate_ratio: float = 1e-4  # word2vec.c decays to starting_alpha * 0.0001.
  linear_decay: bool = True
  epochs: int = 5
  batch_size: int = 1024
  steps_per_call: int = 32  # Steps fused into one jitted lax.scan (amortises dispatch).
  table_sharding: str = "replicated"
  seed: int = 0
  # Logging, evaluation, checkpoints.
  log_every: int = 200  # In steps; rounded up to whole calls.
  checkpoint_every: int = 20000  # In steps; 0 = only at the end and on interruption.
  eval_every_epoch: bool = False
  analogies: str | None = None  # None = the bundled questions-words.txt.
  wordsim: str | None = None  # None = the bundled wordsim353.tsv.
  show_words: tuple[str, ...] = (
      "god", "king", "jesus", "egypt", "gold", "sword", "water", "said")
  progress: bool = True

  def validate(self) -> None:
    """Raises ValueError naming the first setting that makes no sense."""
    checks = [
        (self.window_size >= 1, "window_size", "must be >= 1"),
        (self.num_ns >= 1, "num_ns", "must be >= 1"),
        (self.embedding_dim >= 1, "embedding_dim", "must be >= 1"),
        (self.epochs >= 1, "epochs", "must be >= 1"),
        (self.batch_size >= 1, "batch_size", "must be >= 1"),
        (self.steps_per_call >= 1, "steps_per_call", "must be >= 1"),
        (self.learning_rate > 0, "learning_rate", "must be > 0"),
        (self.min_count >= 1, "min_count", "must be >= 1"),
        (self.max_vocab is None or self.max_vocab >= 3, "max_vocab", "must be >= 3"),
        (self.subsample >= 0, "subsample", "must be >= 0"),
        (self.sequence_length is None or self.sequence_length >= 2, "sequence_length",
         "must be >= 2"),
        (self.log_every >= 1, "log_every", "must be >= 1"),
        (self.shared_negatives >= 0, "shared_negatives", "must be >= 0"),
        (not self.shared_negatives or self.loss == "sigmoid", "shared_negatives",
         "needs --loss=sigmoid"),
        (self.checkpoint_every >= 0, "checkpoint_every", "must be >= 0"),
        (len(self.corpus) > 0, "corpus", "needs at least one path"),
    ]
    choices = [
        ("optimizer", OPTIMIZERS), ("loss", LOSSES), ("negatives", NEGATIVES),
        ("subsampling", SUBSAMPLING), ("standardize", STANDARDIZE),
        ("table_sharding", TABLE_SHARDING), ("init", INITS), ("shuffle", SHUFFLES),
    ]
    for name, allowed in choices:
      value = getattr(self, name)
      checks.append((value in allowed, name, f"must be one of {', '.join(allowed)}"))
    for ok, name, message in checks:
      if not ok:
        raise ValueError(f"--{name}={getattr(self, name)!r}: {message}")


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
          window_size=2,
          dynamic_window=False,
          subsample=1e-5,
          subsampling="zipf",
          shuffle="piece",
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
      ),
  }
