import os
import sys
import threading

import numpy as np
import pytest

from w2v_jax import corpus as corpus_lib
from w2v_jax import data
from w2v_jax import negatives


def _source(piece_tokens=50, subsampling="word2vec", shuffle="corpus"):
  rng = np.random.default_rng(0)
  lengths = rng.integers(2, 12, 60)
  ids = rng.integers(0, 20, lengths.sum()).astype(np.int32)
  offsets = np.concatenate([[0], np.cumsum(lengths)])
  corpus = corpus_lib.Corpus(ids, offsets, raw_words=int(lengths.sum()))
  keep = np.linspace(0.3, 1.0, 20)
  settings = data.PairSettings(window_size=3, subsampling=subsampling, piece_tokens=piece_tokens,
                               shuffle=shuffle)
  return data.PairSource(corpus, keep, settings, seed=7)


def _stack(blocks):
  return {k: np.concatenate([b.batches[k] for b in blocks]) for k in blocks[0].batches}


def test_blocks_cover_every_pair_once_then_pad():
  source = _source()
  blocks = list(data.blocks(source, epochs=2, batch_size=16, steps=4))
  stacked = _stack(blocks)
  n = sum(len(source.pairs(e, p)[0]) for e in range(2) for p in range(source.num_pieces))
  assert stacked["mask"].sum() == n
  assert stacked["mask"].size == len(blocks) * 64 and stacked["mask"].size - n < 64
  expected_t = np.concatenate([source.pairs(e, p)[0] for e in range(2)
                               for p in range(source.num_pieces)])
  np.testing.assert_array_equal(stacked["targets"].ravel()[:n], expected_t)
  assert blocks[-1].words == 2 * source.corpus.raw_words
  assert all(a.words <= b.words for a, b in zip(blocks, blocks[1:]))


def test_count_steps_is_exact_for_epoch_zero():
  source = _source()
  pairs = sum(len(source.pairs(0, p)[0]) for p in range(source.num_pieces))
  assert data.count_steps(source, 3, 16) == -(-3 * pairs // 16)


def test_resuming_at_a_block_end_gives_the_same_stream():
  source = _source()
  noise = negatives.build_alias_table(negatives.unigram_probs(np.arange(1, 21)))
  full = list(data.blocks(source, 2, 16, 4, noise=noise, negatives_shape=(16, 3)))
  for cut in (1, 3, len(full) - 1):
    resumed = list(data.blocks(source, 2, 16, 4, start=full[cut - 1].end, noise=noise, negatives_shape=(16, 3)))
    assert len(resumed) == len(full) - cut
    for a, b in zip(full[cut:], resumed):
      for k in a.batches:
        np.testing.assert_array_equal(a.batches[k], b.batches[k])
  assert full[0].batches["negatives"].shape == (4, 16, 3)


def test_seed_subsampling_masks_targets_only():
  source = _source(subsampling="zipf")
  t, c = source.pairs(0, 0)
  assert len(t) == len(c) > 0


def test_prefetcher_propagates_errors_and_counts_wait():
  def broken():
    yield 1
    raise ValueError("boom")

  p = data.Prefetcher(broken())
  assert next(p) == 1
  try:
    next(p)
    raise AssertionError("expected the producer's error")
  except ValueError as e:
    assert str(e) == "boom"
  p.close()
  assert p.wait_seconds >= 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_prefetch_thread_runs_below_the_consumers_priority():
  def priorities():
    while True:
      yield os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

  base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
  p = data.Prefetcher(priorities(), nice=7)
  assert next(p) == min(19, base + 7)
  p.close()
  assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # Ours untouched.
  p = data.Prefetcher(priorities(), nice=0)
  assert next(p) == base
  p.close()


def test_narrow_corpus_ids_give_the_same_int32_pairs():
  wide = _source()
  ids = wide.corpus.ids
  narrow_ids = corpus_lib.compact_ids(ids, 20)
  assert narrow_ids.dtype == np.uint16 and corpus_lib.compact_ids(ids, 1 << 17).dtype == np.int32
  narrow = data.PairSource(corpus_lib.Corpus(narrow_ids, wide.corpus.offsets, wide.corpus.raw_words),
                           wide.keep_prob, wide.settings, wide.seed)
  for got, want in zip(narrow.pairs(1, 2), wide.pairs(1, 2)):
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


def _sentences(ids, offsets):
  return [tuple(ids[a:b]) for a, b in zip(offsets[:-1], offsets[1:])]


def test_corpus_shuffle_deals_every_sentence_once_per_epoch_in_a_new_order():
  source = _source(piece_tokens=50)
  corpus = source.corpus
  everything = sorted(_sentences(corpus.ids, corpus.offsets))
  orders = []
  for epoch in (0, 1):
    pieces = [source._piece(epoch, p) for p in range(source.num_pieces)]  # pylint: disable=protected-access
    dealt = [s for ids, offsets in pieces for s in _sentences(ids, offsets)]
    assert sorted(dealt) == everything
    assert all(ids.dtype == np.int32 for ids, _ in pieces)
    # Equal shares of tokens, give or take a sentence (at most 11 tokens) at either end.
    share = len(corpus.ids) / source.num_pieces
    assert all(abs(len(ids) - share) <= 22 for ids, _ in pieces[:-1])
    orders.append(dealt)
  assert orders[0] != orders[1]
  assert orders[0] != _sentences(corpus.ids, corpus.offsets)
  again = [s for p in range(source.num_pieces) for s in _sentences(*source._piece(0, p))]  # pylint: disable=protected-access
  assert again == orders[0]


def test_piece_shuffle_keeps_consecutive_sentences_together():
  source = _source(piece_tokens=50, shuffle="piece")
  dealt = [s for p in range(source.num_pieces) for s in _sentences(*source._piece(1, p))]  # pylint: disable=protected-access
  assert dealt == _sentences(source.corpus.ids, source.corpus.offsets)
