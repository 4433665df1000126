"""The input pipeline: corpus pieces -> shuffled examples -> fixed-shape blocks, prefetched.

An example is one window (layout "windows": a centre token and its context slots, padded to 2W)
or one (target, context) pair (layout "pairs": a window of one slot); the fused step takes whole
sentences instead (layout "sentences", `sentence_blocks`), and makes its windows itself. Every piece of every epoch
draws its randomness from `default_rng([seed, epoch, piece])`, so the example stream is a pure
function of the seed and can restart at any `Position` (checkpoints resume mid-epoch without
replaying the data before it).

Pieces are either random sentences from the whole corpus ("corpus" shuffle: each epoch permutes
the sentences, then cuts the permutation into pieces) or runs of consecutive sentences ("piece").
The first is the default: a batch from one stretch of text repeats that stretch's topic words,
and their gradients are summed at the same stale point. On the bench corpus the two measured the
same within noise (README).
"""

from __future__ import annotations

import dataclasses
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from w2v_jax import config as config_lib
from w2v_jax import corpus as corpus_lib
from w2v_jax import huffman
from w2v_jax import negatives as negatives_lib
from w2v_jax import pairs as pairs_lib
from w2v_jax import subwords as subwords_lib

_NEGATIVES_STREAM = 1  # Separates the negatives' generator from the pairs' ones.
_ORDER_STREAM = 2  # And the epoch's sentence order.
_SHUFFLE_STREAM = 3  # And a fixed training set's example order in a later epoch.
# Tokens per shuffled piece: bounds the pipeline's memory (~100 bytes per token in flight).
PIECE_TOKENS = 1 << 14


@dataclasses.dataclass(frozen=True)
class Position:
  """Where the next block starts: piece `piece` of the run's piece schedule, pair `offset`."""

  piece: int = 0
  offset: int = 0


@dataclasses.dataclass(frozen=True)
class Block:
  # centres int32 [T, B], contexts int32 [T, B, S], mask float32 [T, B, S] for T steps; plus
  # negatives int32 [T, ...] and the centres' Huffman paths [T, B, L] when the pipeline adds them.
  batches: dict[str, np.ndarray]
  end: Position  # Where the block after this one starts.
  words: float  # Raw corpus words consumed up to the end of this block (all epochs).
  pairs: float = 0.0  # Its examples' (input, output) pairs; sentence blocks' step counts its own.


def piece_bounds(offsets: np.ndarray, piece_tokens: int) -> np.ndarray:
  """Sentence indices cutting the corpus into pieces of about `piece_tokens` tokens."""
  cuts = np.searchsorted(offsets, np.arange(0, offsets[-1], piece_tokens), side="left")
  return np.unique(np.concatenate([cuts, [len(offsets) - 1]]))


class ExampleSource:
  """Examples of one (epoch, piece), reproducibly.

  `settings`: resolved (its layout windows, pairs or sentences). `skip_id`: the seed's padding
  id, neither centre nor context. `draw_negatives(rng, n)`: n examples' negatives, drawn with
  the examples (a fixed training set keeps them with its examples; otherwise leave None and let
  the pipeline or step draw).
  """

  def __init__(self, corpus: corpus_lib.Corpus, keep_prob: np.ndarray,
               settings: config_lib.ExamplesConfig, seed: int, *, skip_id: int | None = None,
               draw_negatives: Callable[[np.random.Generator, int], np.ndarray] | None = None,
               piece_tokens: int = PIECE_TOKENS):
    if settings.layout not in ("windows", "pairs", "sentences"):
      raise ValueError(f"layout {settings.layout!r}: resolve the config first (config.resolve)")
    self.corpus, self.keep_prob, self.settings, self.seed = corpus, keep_prob, settings, seed
    self.skip_id, self.draw_negatives = skip_id, draw_negatives
    self.bounds = piece_bounds(corpus.offsets, piece_tokens)
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

  def sentences(self, epoch: int, piece: int, max_length: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The piece's sentences as they come, int32 ids and offsets; longer than `max_length`, cut."""
    ids, offsets = self._piece(epoch, piece)
    lengths = _cut(np.diff(offsets), max_length)
    return ids, np.concatenate([[0], np.cumsum(lengths)])

  def sentence_lengths(self, epoch: int, max_length: int | None = None) -> np.ndarray:
    """Every sentence's length in the epoch's order (`sentences` of every piece, in turn)."""
    lengths = np.diff(self.corpus.offsets)
    if self.settings.shuffle == "corpus":
      lengths = lengths[self._order(self.content_epoch(epoch))[0]]
    return _cut(lengths, max_length)

  def content_epoch(self, epoch: int) -> int:
    """The epoch whose randomness draws `epoch`'s examples: 0 for a fixed training set."""
    return 0 if self.settings.fixed_training_set else epoch

  def _draw(self, epoch: int, piece: int):
    epoch = self.content_epoch(epoch)
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
    return rng, (ids, offsets, windows, target_mask, self.skip_id)

  @property
  def slots(self) -> int:
    """Context slots per example."""
    return self.settings.slots

  def count(self, epoch: int, piece: int) -> int:
    """Examples of one piece (without building them, for pairs)."""
    _, args = self._draw(epoch, piece)
    if self.settings.layout == "pairs":
      return pairs_lib.count_pairs(*args)
    _, offsets, _, target_mask, skip_id = args
    if target_mask is None and skip_id is None:
      # Every radius is >= 1, so a centre has a context iff its sentence kept another token:
      # the count without building the windows (bench corpus: 2.2 -> 1.0 s).
      lengths = np.diff(offsets)
      return int(lengths[lengths >= 2].sum())
    return len(self._windows(args)[0])

  def _windows(self, args):
    ids, offsets, windows, target_mask, skip_id = args
    return pairs_lib.window_examples(ids, offsets, windows, self.settings.window_size,
                                     target_mask, skip_id)

  def examples(self, epoch: int, piece: int) -> dict[str, np.ndarray]:
    """The piece's examples, shuffled: centres [N], contexts [N, slots], mask [N, slots]."""
    rng, args = self._draw(epoch, piece)
    if self.settings.layout == "pairs":
      # A pair trains the target's input row against the context's output rows.
      targets, contexts = pairs_lib.skipgram_pairs(*args)
      centres, inputs = contexts, targets[:, None]
      mask = np.ones(inputs.shape, np.float32)
    else:
      centres, inputs, mask = self._windows(args)
    order = rng.permutation(len(centres))
    examples = {"centres": centres[order], "contexts": inputs[order], "mask": mask[order]}
    if self.draw_negatives is not None:
      examples["negatives"] = self.draw_negatives(rng, len(centres))
    order_epoch = 0 if self.settings.repeat_batch_order else epoch
    if order_epoch != self.content_epoch(epoch):  # A fixed set reshuffled, by its own stream.
      rng = np.random.default_rng([self.seed, order_epoch, piece, _SHUFFLE_STREAM])
      order = rng.permutation(len(centres))
      examples = {k: v[order] for k, v in examples.items()}
    return examples


@dataclasses.dataclass(frozen=True)
class Outputs:
  """What the pipeline adds to each block: the output side, and fastText's subwords of the inputs."""

  noise: negatives_lib.AliasTable | None = None  # Draw negatives of `negatives_shape` here.
  negatives_shape: tuple[int, ...] = ()  # One batch's.
  tree: huffman.HuffmanTree | None = None  # Add the centres' paths.
  subwords: subwords_lib.Subwords | None = None  # Add the input words' n-gram rows, flat,
  subword_chunks: int = 1  # in this many column groups (one per replica).
  centre_inputs: bool = False  # The inputs are the centres (fastText's skip-gram), not contexts.

  def add(self, batches: dict[str, np.ndarray], rng_key: list[int]) -> None:
    steps = batches["centres"].shape[0]
    if self.subwords is not None:
      words, live = batches["contexts"], batches["mask"] > 0
      if self.centre_inputs:
        words, live = batches["centres"][..., None], live.any(axis=-1, keepdims=True)
      batches["ngrams"], batches["ngram_slots"] = self.subwords.of_slots(
          words, live, self.subword_chunks)
    if self.noise is not None:
      rng = np.random.default_rng(rng_key)
      batches["negatives"] = negatives_lib.sample_alias_np(
          rng, self.noise, (steps, *self.negatives_shape))
    if self.tree is not None:
      centres = batches["centres"]
      batches["points"] = self.tree.points[centres]
      batches["codes"] = self.tree.codes[centres].astype(np.float32)
      live = batches["mask"].any(axis=-1, keepdims=True)
      on_path = np.arange(self.tree.points.shape[1]) < self.tree.lengths[centres][..., None]
      batches["path_mask"] = (on_path & live).astype(np.float32)


def blocks(
    source: ExampleSource,
    epochs: int,
    batch_size: int,
    steps: int,
    start: Position = Position(),
    outputs: Outputs = Outputs(),
) -> Iterator[Block]:
  """Fixed-shape blocks of `steps` batches of examples; the final block is padded (mask 0).

  Negatives are drawn from a generator keyed by the block's start position, so a resumed run
  draws the same ones.
  """
  size = batch_size * steps
  buf: list[dict[str, np.ndarray]] = []
  have = 0
  total = source.num_pieces * epochs
  words_before = np.concatenate([[0.0], np.cumsum(np.tile(source.piece_words, epochs))])

  def emit(begin: Position, position: Position, words: float) -> Block:
    batches = {}
    for key in buf[0]:
      x = np.concatenate([b[key] for b in buf])
      x = np.pad(x, [(0, size - len(x))] + [(0, 0)] * (x.ndim - 1))
      batches[key] = x.reshape(steps, batch_size, *x.shape[1:])
    outputs.add(batches, [source.seed, begin.piece, begin.offset, _NEGATIVES_STREAM])
    return Block(batches, position, words, float(batches["mask"].sum()))

  begin = start
  for index in range(start.piece, total):
    epoch, piece = divmod(index, source.num_pieces)
    examples = source.examples(epoch, piece)
    n = len(examples["centres"])
    offset = start.offset if index == start.piece else 0
    while offset < n:
      if have == 0:
        begin = Position(index, offset)
      take = min(size - have, n - offset)
      buf.append({k: v[offset:offset + take] for k, v in examples.items()})
      have, offset = have + take, offset + take
      if have == size:
        end = Position(index + 1, 0) if offset == n else Position(index, offset)
        yield emit(begin, end, words_before[index] + offset / n * source.piece_words[piece])
        buf, have = [], 0
    if source.settings.drop_remainder and piece == source.num_pieces - 1:
      # Blocks hold whole batches, so what is over a whole batch here is this epoch's last.
      buf, have = _drop_last(buf, have % batch_size), have - have % batch_size
  if have:
    yield emit(begin, Position(total, 0), words_before[-1])


def _pack(lengths: list[int], first: int, width: int, row: int, fill: int, rows: int, *,
          positions: bool = True) -> tuple[int, list[int], int, int]:
  """Greedy packing: sentences lengths[first:] from row `row`, token `fill` on, each followed by
  one -1, a sentence that does not fit starting the next row. Returns (the first sentence not
  placed, the flat start of each placed one (unless not `positions`), row, fill) when the
  sentences or the rows run out."""
  starts = []
  j = first
  while j < len(lengths):
    if fill + lengths[j] > width:
      row, fill = row + 1, 0
      if row == rows:
        break
    if positions:
      starts.append(row * width + fill)
    fill += lengths[j] + 1
    j += 1
  return j, starts, row, fill


def sentence_blocks(
    source: ExampleSource, epochs: int, tokens_per_step: int, steps: int,
    start: Position = Position(),
) -> Iterator[Block]:
  """Blocks of `steps` batches of whole sentences for the fused step: tokens int32 [steps,
  tokens_per_step], each sentence followed by -1 (the padding is -1 too), in the epoch's
  sentence order; a sentence longer than a step is cut. `Position.offset` counts sentences."""
  width = tokens_per_step
  total = source.num_pieces * epochs
  words_before = np.concatenate([[0.0], np.cumsum(np.tile(source.piece_words, epochs))])
  flat = np.full(steps * width, -1, np.int32)
  row, fill = 0, 0  # fill > 0 once a sentence is placed: a row ends only for the next one.

  def emit(end: Position, words: float) -> Block:
    nonlocal flat, row, fill
    block = Block({"tokens": flat.reshape(steps, width)}, end, words)
    flat, row, fill = np.full(steps * width, -1, np.int32), 0, 0
    return block

  for index in range(start.piece, total):
    epoch, piece = divmod(index, source.num_pieces)
    ids, offsets = source.sentences(epoch, piece, max_length=width)
    sizes = np.diff(offsets)
    lengths = sizes.tolist()
    j = start.offset if index == start.piece else 0
    while j < len(lengths):
      end, starts, row, fill = _pack(lengths, j, width, row, fill, steps)
      if starts:
        # Each token's place: its sentence's start in the block plus its index in the sentence.
        shift = np.repeat(np.asarray(starts) - offsets[j:end], sizes[j:end])
        flat[np.arange(offsets[j], offsets[end]) + shift] = ids[offsets[j]:offsets[end]]
      j = end
      if row == steps:  # Full: the next sentence starts the next block.
        position = Position(index + 1, 0) if j == len(lengths) else Position(index, j)
        yield emit(position, words_before[index]
                   + j / max(len(lengths), 1) * source.piece_words[piece])
  if fill:
    yield emit(Position(total, 0), words_before[-1])


def count_sentence_steps(source: ExampleSource, epochs: int, tokens_per_step: int) -> int:
  """Steps of `sentence_blocks` over the run: epoch 0's packing, times `epochs`."""
  lengths = source.sentence_lengths(0, max_length=tokens_per_step).tolist()
  _, _, row, fill = _pack(lengths, 0, tokens_per_step, 0, 0, rows=1 << 62, positions=False)
  return math.ceil(epochs * (row + fill / tokens_per_step))


def _cut(lengths: np.ndarray, max_length: int | None) -> np.ndarray:
  """Sentence lengths with each one longer than `max_length` cut into pieces that fit."""
  if max_length is None or not len(lengths) or lengths.max() <= max_length:
    return lengths
  parts = -(-lengths // max_length)
  cut = np.minimum(max_length, lengths[:, None] - max_length * np.arange(parts.max()))
  return cut[cut > 0]


def _drop_last(buf: list[dict[str, np.ndarray]], n: int) -> list[dict[str, np.ndarray]]:
  """The chunks of `buf` without their last `n` examples."""
  while n:
    last = buf.pop()
    size = len(last["centres"])
    if size > n:
      buf.append({k: v[:size - n] for k, v in last.items()})
    n -= min(n, size)
  return buf


def count_steps(source: ExampleSource, epochs: int, batch_size: int) -> int:
  """Steps of the whole run, from the exact example count of epoch 0 times `epochs`."""
  examples = sum(source.count(0, piece) for piece in range(source.num_pieces))
  if source.settings.drop_remainder:
    return examples // batch_size * epochs
  return -(-examples * epochs // batch_size)


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
