"""What the fused kernel trains: a `Rule`, the part of a built-in objective it runs.

Its own module so that the objectives (which say their rule, `Word2Vec.fused()`) and the fused
step (which runs it, `w2v_jax.fused`) both depend on it and not on each other.
"""

from __future__ import annotations

import dataclasses

from w2v_jax.losses import CBOW_MODES


@dataclasses.dataclass(frozen=True)
class Rule:
  """What the kernel trains: the part of a built-in objective it runs (`Word2Vec.fused()`).

  `per_pair`: word2vec.c's and fastText's loops literally: each (input, output) pair in turn,
  with its own negatives, each output row updated as it goes (word2vec.c's skip-gram, a
  negative equal to the centre skipped; fastText's with the centre as input, one equal to the
  context redrawn; with model "cbow", word2vec.c's CBOW: one prediction per window, each output
  row updated as it goes); else per window, every gradient of a window from the tables as they
  were before it (HogBatch), its negatives shared by its pairs. `window_draws`: with the
  centre as input, per window, how many negatives the window's pairs share (each weighing
  num_ns / window_draws). `skip_saturated`: no update from an output whose logit is outside
  (-6, 6), as gensim does (word2vec.c for hierarchical softmax); its loss still counts.
  """

  model: str = "skipgram"
  # Skip-gram's input word: the context (word2vec.c) or the centre (fastText).
  skipgram_input: str = "context"
  per_pair: bool = False
  num_ns: int = 5
  window_draws: int = 0
  hs: bool = False
  cbow: str = "mean"
  skip_saturated: bool = False

  def __post_init__(self):
    if self.cbow not in CBOW_MODES:
      raise ValueError(f"cbow must be one of {CBOW_MODES}, not {self.cbow!r}")
    if self.skipgram_input == "centre" and (self.model != "skipgram" or self.hs or not self.num_ns):
      raise ValueError("the centre as input needs skip-gram with negative sampling alone")
    if not (self.num_ns or self.hs):
      raise ValueError("needs negatives (num_ns > 0) or hierarchical softmax")
    if bool(self.window_draws) != (self.centre_input and not self.per_pair):
      raise ValueError("window_draws (> 0) is for the centre as input, per window, alone")

  @property
  def centre_input(self) -> bool:
    return self.skipgram_input == "centre"
