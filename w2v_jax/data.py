"""The input pipeline: corpus pieces -> shuffled pairs -> fixed-shape blocks, prefetched.

Every piece of every epoch draws its randomness from `default_rng([seed, epoch, piece])`, so the
pair stream is a pure function of the seed and can restart at any `Position` (checkpoints resume
mid-epoch without replaying the data before it).

Pieces are either random sentences from the whole corpus ("corpus" shuffle: each epoch permutes
the sentences, then cuts the permutation into pieces) or runs of consecutive sentences ("piece").
The first is the default: a batch from one stretch of text repeats that stretch's topic words,
and their gradients are summed at the same stale point. On the bench corpus the two measured the
same within noise (README).
"""

from __future__ import annotations

import dataclasses
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np

from w2v_jax import corpus as corpus_lib
from w2v_jax import negatives as negatives_lib
from w2v_jax import pairs as pairs_lib

_NEGATIVES_STREAM = 1  # Separates the negatives' generator from the pairs' ones.
_ORDER_STREAM = 2  # And the epoch's sentence order.
SHUFFLES = ("corpus", "piece")


@dataclasses.dataclass(frozen=True)
class PairSettings:
  window_size: int = 5
  dynamic_window: bool = True
  subsampling: str = "word2vec"  # "word2vec": drop tokens; "zipf": targets only (seed); "none".
  skip_id: int | None = None  # The seed's padding id.
  shuffle: str = "corpus"  # "corpus": pieces of random sentences; "piece": consecutive ones.
  # Tokens per shuffled piece: bounds the pipeline's memory (~100 bytes per token in flight).
  piece_tokens: int = 1 << 14


@dataclasses.dataclass(frozen=True)
class Position:
  """Where the next block starts: piece `piece` of the run's piece schedule, pair `offset`."""

  piece: int = 0
  offset: int = 0


@dataclasses.dataclass(frozen=True)
class Block:
  # targets, contexts int32 [S, B]; mask float32 [S, B]; negatives int32 [S, ...] if drawn here.
  batches: dict[str, np.ndarray]
  end: Position  # Where the block after this one starts.
  words: float  # Raw corpus words consumed up to the end of this block (all epochs).


def piece_bounds(offsets: np.ndarray, piece_tokens: int) -> np.ndarray:
  """Sentence indices cutting the corpus into pieces of about `piece_tokens` tokens."""
  cuts = np.searchsorted(offsets, np.arange(0, offsets[-1], piece_tokens), side="left")
  return np.unique(np.concatenate([cuts, [len(offsets) - 1]]))


class PairSource:
  """Pairs of one (epoch, piece), reproducibly."""

  def __init__(self, corpus: corpus_lib.Corpus, keep_prob: np.ndarray, settings: PairSettings,
               seed: int):
    if settings.shuffle not in SHUFFLES:
      raise ValueError(f"unknown shuffle {settings.shuffle!r}; choose from {SHUFFLES}")
    self.corpus, self.keep_prob, self.settings, self.seed = corpus, keep_prob, settings, seed
    self.bounds = piece_bounds(corpus.offsets, settings.piece_tokens)
    self.num_pieces = len(self.bounds) - 1
    # Raw words (before OOV removal) per piece, for words/sec and progress.
    tokens = np.diff(corpus.offsets[self.bounds])
    if settings.shuffle == "corpus":  # Every piece gets an equal share of the tokens.
      tokens = np.full(self.num_pieces, len(corpus.ids) / self.num_pieces)
    self.piece_words = tokens * (corpus.raw_words / max(len(corpus.ids), 1))
    self._order_cache: tuple[int, np.ndarray, np.ndarray] | None = None

  def _order(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """The epoch's sentence permutation and where each piece's sentences start in it."""
    cached = self._order_cache
    if cached is None or cached[0] != epoch:
      rng = np.random.default_rng([self.seed, epoch, 0, _ORDER_STREAM])
      order = rng.permutation(self.corpus.num_sentences).astype(np.int32)
      ends = np.cumsum(np.diff(self.corpus.offsets)[order])
      shares = np.arange(1, self.num_pieces) * (len(self.corpus.ids) / self.num_pieces)
      cuts = np.concatenate([[0], np.searchsorted(ends, shares, side="right"), [len(order)]])
      cached = self._order_cache = (epoch, order, cuts)
    return cached[1], cached[2]

  def _piece(self, epoch: int, piece: int) -> tuple[np.ndarray, np.ndarray]:
    """int32 ids and sentence offsets of one piece."""
    if self.settings.shuffle == "piece":
      s0, s1 = self.bounds[piece], self.bounds[piece + 1]
      offsets = self.corpus.offsets[s0:s1 + 1]
      return self.corpus.ids[offsets[0]:offsets[-1]].astype(np.int32), offsets - offsets[0]
    order, cuts = self._order(epoch)
    sentences = order[cuts[piece]:cuts[piece + 1]]
    starts = self.corpus.offsets[sentences]
    lengths = self.corpus.offsets[sentences + 1] - starts
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    index = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
    return self.corpus.ids[index].astype(np.int32), offsets

  def _draw(self, epoch: int, piece: int):
    rng = np.random.default_rng([self.seed, epoch, piece])
    ids, offsets = self._piece(epoch, piece)
    target_mask = None
    if self.settings.subsampling == "word2vec":
      ids, offsets = pairs_lib.subsample(ids, offsets, self.keep_prob, rng)
    elif self.settings.subsampling == "zipf":
      target_mask = rng.random(len(ids)) < self.keep_prob[ids]
    windows = pairs_lib.draw_windows(
        len(ids), self.settings.window_size, rng, self.settings.dynamic_window
    )
    return rng, (ids, offsets, windows, target_mask, self.settings.skip_id)

  def count(self, epoch: int, piece: int) -> int:
    return pairs_lib.count_pairs(*self._draw(epoch, piece)[1])

  def pairs(self, epoch: int, piece: int) -> tuple[np.ndarray, np.ndarray]:
    rng, args = self._draw(epoch, piece)
    targets, contexts = pairs_lib.skipgram_pairs(*args)
    order = rng.permutation(len(targets))
    return targets[order], contexts[order]


def blocks(
    source: PairSource,
    epochs: int,
    batch_size: int,
    steps: int,
    start: Position = Position(),
    noise: negatives_lib.AliasTable | None = None,
    negatives_shape: tuple[int, ...] = (),
) -> Iterator[Block]:
  """Fixed-shape blocks of `steps` batches; the final block is padded and masked.

  With `noise`, each block also carries negatives of shape [steps, *negatives_shape], drawn from
  a generator keyed by the block's start position (so a resumed run draws the same ones).
  """
  size = batch_size * steps
  buf_t, buf_c, have = [], [], 0
  total = source.num_pieces * epochs
  words_before = np.concatenate([[0.0], np.cumsum(np.tile(source.piece_words, epochs))])

  def emit(begin: Position, position: Position, words: float) -> Block:
    t = np.concatenate(buf_t)
    c = np.concatenate(buf_c)
    mask = np.zeros(size, np.float32)
    mask[:len(t)] = 1.0
    pad = size - len(t)
    t, c = np.pad(t, (0, pad)), np.pad(c, (0, pad))
    batches = {"targets": t.reshape(steps, batch_size), "contexts": c.reshape(steps, batch_size),
               "mask": mask.reshape(steps, batch_size)}
    if noise is not None:
      rng = np.random.default_rng([source.seed, begin.piece, begin.offset, _NEGATIVES_STREAM])
      batches["negatives"] = negatives_lib.sample_alias_np(rng, noise, (steps, *negatives_shape))
    return Block(batches, position, words)

  begin = start
  for index in range(start.piece, total):
    epoch, piece = divmod(index, source.num_pieces)
    t, c = source.pairs(epoch, piece)
    offset = start.offset if index == start.piece else 0
    while offset < len(t):
      if have == 0:
        begin = Position(index, offset)
      take = min(size - have, len(t) - offset)
      buf_t.append(t[offset:offset + take])
      buf_c.append(c[offset:offset + take])
      have, offset = have + take, offset + take
      if have == size:
        done = offset / len(t)
        end = Position(index + 1, 0) if offset == len(t) else Position(index, offset)
        yield emit(begin, end, words_before[index] + done * source.piece_words[piece])
        buf_t, buf_c, have = [], [], 0
  if have:
    yield emit(begin, Position(total, 0), words_before[-1])


def count_steps(source: PairSource, epochs: int, batch_size: int) -> int:
  """Steps of the whole run, from the exact pair count of epoch 0 times `epochs`."""
  pairs = sum(source.count(0, piece) for piece in range(source.num_pieces))
  return -(-pairs * epochs // batch_size)


class Prefetcher:
  """Runs an iterator in a background thread, `depth` items ahead; records time spent waiting.

  On Linux the thread runs `nice` steps below its process (a per-thread nice value): the items it
  makes are needed only `depth` items later, while the jitted step it feeds is the critical path
  and, on the CPU, wants every core. On the bench corpus (2 cores) nice 10 trained faster in 10
  of 10 paired 1-epoch runs (median 11.7 -> 10.6 s) and the step still waited < 1% of the time.
  """

  _DONE = object()

  def __init__(self, iterator: Iterator, depth: int = 4, transform=None, nice: int = 10):
    self._queue: queue.Queue = queue.Queue(maxsize=depth)
    self._stop = threading.Event()
    self.wait_seconds = 0.0
    self._thread = threading.Thread(
        target=self._run, args=(iterator, transform, nice), daemon=True, name="w2v-prefetch"
    )
    self._thread.start()

  def _run(self, iterator, transform, nice):
    if nice and sys.platform.startswith("linux"):  # Elsewhere a thread id is not a pid.
      _lower_thread_priority(nice)
    try:
      for item in iterator:
        if transform is not None:
          item = transform(item)
        while not self._stop.is_set():
          try:
            self._queue.put(item, timeout=0.1)
            break
          except queue.Full:
            continue
        if self._stop.is_set():
          return
      self._queue.put(self._DONE)
    except BaseException as e:  # Re-raised in the consumer's thread.
      self._queue.put(e)

  def __iter__(self):
    return self

  def __next__(self):
    t0 = time.perf_counter()
    item = self._queue.get()
    self.wait_seconds += time.perf_counter() - t0
    if item is self._DONE:
      self._queue.put(item)
      raise StopIteration
    if isinstance(item, BaseException):
      raise item
    return item

  def close(self) -> None:
    self._stop.set()
    self._thread.join(timeout=5)


def _lower_thread_priority(nice: int) -> None:
  """Raises the calling thread's nice value by `nice` (Linux: nice values are per thread)."""
  tid = threading.get_native_id()
  try:
    os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
  except OSError:  # Not permitted in some sandboxes; the pipeline still works at full priority.
    pass
