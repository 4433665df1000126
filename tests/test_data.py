import dataclasses
import os
import sys
import threading

import numpy as np
import pytest

from w2v_jax import config as config_lib
from w2v_jax import corpus as corpus_lib
from w2v_jax import data, huffman
from w2v_jax import negatives


def _source(piece_tokens=50, subsampling="word2vec", shuffle="corpus", layout="pairs"):
  rng = np.random.default_rng(0)
  lengths = rng.integers(2, 12, 60)
  ids = rng.integers(0, 20, lengths.sum()).astype(np.int32)
  offsets = np.concatenate([[0], np.cumsum(lengths)])
  corpus = corpus_lib.Corpus(ids, offsets, raw_words=int(lengths.sum()))
  keep = np.linspace(0.3, 1.0, 20)
  settings = config_lib.ExamplesConfig(layout=layout, window_size=3, subsampling=subsampling,
                                       shuffle=shuffle)
  return data.ExampleSource(corpus, keep, settings, seed=7, piece_tokens=piece_tokens)


def _stack(blocks):
  return {k: np.concatenate([b.batches[k] for b in blocks]) for k in blocks[0].batches}


@pytest.mark.parametrize("layout", ["pairs", "windows"])
def test_blocks_cover_every_example_once_then_pad(layout):
  source = _source(layout=layout)
  blocks = list(data.blocks(source, epochs=2, batch_size=16, steps=4))
  stacked = _stack(blocks)
  every = [source.examples(e, p) for e in range(2) for p in range(source.num_pieces)]
  n = sum(len(x["centres"]) for x in every)
  assert stacked["mask"].shape[2:] == (source.slots,)
  assert stacked["centres"].size == len(blocks) * 64 and len(blocks) * 64 - n < 64
  assert np.all(stacked["mask"].reshape(-1, source.slots)[n:] == 0)
  for key in ("centres", "contexts", "mask"):
    expected = np.concatenate([x[key] for x in every])
    np.testing.assert_array_equal(stacked[key].reshape(-1, *expected.shape[1:])[:n], expected)
  assert blocks[-1].words == 2 * source.corpus.raw_words
  assert all(a.words <= b.words for a, b in zip(blocks, blocks[1:]))


@pytest.mark.parametrize("layout", ["pairs", "windows"])
def test_count_steps_is_exact_for_epoch_zero(layout):
  source = _source(layout=layout)
  examples = sum(len(source.examples(0, p)["centres"]) for p in range(source.num_pieces))
  assert data.count_steps(source, 3, 16) == -(-3 * examples // 16)


def test_resuming_at_a_block_end_gives_the_same_stream():
  source = _source(layout="windows")
  noise = negatives.build_alias_table(negatives.unigram_probs(np.arange(1, 21)))
  tree = huffman.build_huffman(np.arange(20, 0, -1))
  outputs = data.Outputs(noise, (16, 3), tree)
  full = list(data.blocks(source, 2, 16, 4, outputs=outputs))
  for cut in (1, 3, len(full) - 1):
    resumed = list(data.blocks(source, 2, 16, 4, start=full[cut - 1].end, outputs=outputs))
    assert len(resumed) == len(full) - cut
    for a, b in zip(full[cut:], resumed):
      for k in a.batches:
        np.testing.assert_array_equal(a.batches[k], b.batches[k])
  assert full[0].batches["negatives"].shape == (4, 16, 3)


def test_huffman_paths_are_the_centres_and_padded_examples_have_none():
  source = _source(layout="windows")
  tree = huffman.build_huffman(np.arange(20, 0, -1))
  blocks = list(data.blocks(source, 1, 16, 4, outputs=data.Outputs(tree=tree)))
  last = blocks[-1].batches
  live = last["mask"].any(-1)
  assert not live.all()  # The final block is padded.
  centres = last["centres"][live]
  np.testing.assert_array_equal(last["points"][live], tree.points[centres])
  np.testing.assert_array_equal(last["codes"][live], tree.codes[centres])
  np.testing.assert_array_equal(last["path_mask"][live].sum(-1), tree.lengths[centres])
  assert not last["path_mask"][~live].any()


def test_seed_subsampling_masks_targets_only():
  source = _source(subsampling="zipf")
  x = source.examples(0, 0)
  assert len(x["centres"]) == len(x["contexts"]) > 0


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
  narrow = data.ExampleSource(
      corpus_lib.Corpus(narrow_ids, wide.corpus.offsets, wide.corpus.raw_words),
      wide.keep_prob, wide.settings, wide.seed, piece_tokens=50)
  got, want = narrow.examples(1, 2), wide.examples(1, 2)
  for key in ("centres", "contexts"):
    assert got[key].dtype == np.int32
    np.testing.assert_array_equal(got[key], want[key])


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


def _seed_source(fixed=True, repeat=True, drop=True, layout="pairs"):
  """The seed's data set on `_source`'s corpus: Zipf-subsampled targets, negatives drawn with
  the examples (log-uniform rows of 3 distinct ids)."""
  source = _source(subsampling="zipf", shuffle="piece", layout=layout)
  settings = dataclasses.replace(source.settings, fixed_training_set=fixed,
                                 repeat_batch_order=repeat, drop_remainder=drop)
  draw = lambda rng, n: negatives.sample_log_uniform_np(rng, 20, (n, 3))
  return data.ExampleSource(source.corpus, source.keep_prob, settings, seed=7,
                            draw_negatives=draw, piece_tokens=50)


def _epoch_batches(source, epochs=3, batch_size=16):
  """Each epoch's batches, as rows of (centre, contexts..., negatives...) per example."""
  per_epoch = data.count_steps(source, 1, batch_size)
  blocks = list(data.blocks(source, epochs, batch_size, steps=1))
  rows = [np.concatenate([b.batches["centres"][0][:, None], b.batches["contexts"][0],
                          b.batches["negatives"][0]], axis=1) for b in blocks]
  assert len(rows) == per_epoch * epochs  # Whole batches only: none straddles two epochs.
  return [np.stack(rows[e * per_epoch:(e + 1) * per_epoch]) for e in range(epochs)]


def _multiset(batches):
  flat = batches.reshape(-1, batches.shape[-1])
  return flat[np.lexsort(flat.T[::-1])]


def test_seed_data_set_replays_one_set_of_examples_in_one_order():
  source = _seed_source()
  epochs = _epoch_batches(source)
  for later in epochs[1:]:  # From epoch 2 on: the same batches, in the same order.
    np.testing.assert_array_equal(later, epochs[0])
  # Whole batches: the last partial one of each epoch is dropped, so each epoch counts
  # floor(examples / batch) steps.
  examples = sum(len(source.examples(0, p)["centres"]) for p in range(source.num_pieces))
  assert len(epochs[0]) == examples // 16 and examples % 16
  assert data.count_steps(source, 3, 16) == 3 * (examples // 16)
  negs = epochs[0][..., 2:]
  assert all(len(set(row)) == 3 for row in negs.reshape(-1, 3).tolist())
  assert negs.min() == 0  # Log-uniform draws hit the padding id, as TF's sampler does.


def test_fixed_set_reshuffled_keeps_its_examples_and_changes_their_order():
  source = _seed_source(repeat=False, drop=False)
  stream = _stack(list(data.blocks(source, 3, 16, steps=1)))
  n = sum(len(source.examples(0, p)["centres"]) for p in range(source.num_pieces))
  rows = np.concatenate([stream["centres"][..., None], stream["contexts"],
                         stream["negatives"]], axis=-1).reshape(-1, 5)[:3 * n]
  epochs = [rows[e * n:(e + 1) * n] for e in range(3)]
  for later in epochs[1:]:
    np.testing.assert_array_equal(_multiset(later), _multiset(epochs[0]))
    assert not np.array_equal(later, epochs[0])
  # Without drop_remainder batches run on across epoch ends, as before: ceil(3n / batch) steps.
  assert len(stream["centres"]) == data.count_steps(source, 3, 16) == -(-3 * n // 16)


def test_without_a_fixed_set_every_epoch_draws_new_examples():
  source = _seed_source(fixed=False, repeat=False, drop=False)
  first, second = (np.concatenate([source.examples(e, p)["centres"]
                                   for p in range(source.num_pieces)]) for e in (0, 1))
  assert not np.array_equal(np.sort(first), np.sort(second))  # Zipf subsampling redrawn.
  assert source.examples(1, 0)["negatives"].shape[1] == 3
  # With the flags off the stream is the one the pipeline always made: the same examples, in the
  # same order, as a source that never heard of them (the negatives come on top).
  plain = _source(subsampling="zipf", shuffle="piece")
  for epoch in (0, 2):
    a, b = source.examples(epoch, 1), plain.examples(epoch, 1)
    for key in b:
      np.testing.assert_array_equal(a[key], b[key])


def test_seed_data_set_resumes_at_any_block_end():
  source = _seed_source(layout="windows")
  full = list(data.blocks(source, 3, 16, 4))
  for cut in (1, len(full) // 2, len(full) - 1):
    resumed = list(data.blocks(source, 3, 16, 4, start=full[cut - 1].end))
    assert len(resumed) == len(full) - cut
    for a, b in zip(full[cut:], resumed):
      for k in a.batches:
        np.testing.assert_array_equal(a.batches[k], b.batches[k])


def _sentence_source(lengths, piece_tokens=1 << 14, shuffle="piece"):
  ids = np.arange(sum(lengths), dtype=np.int32) % 50
  offsets = np.concatenate([[0], np.cumsum(lengths)])
  corpus = corpus_lib.Corpus(ids, offsets, raw_words=int(sum(lengths)))
  settings = config_lib.ExamplesConfig(layout="sentences", shuffle=shuffle)
  return data.ExampleSource(corpus, np.ones(50), settings, seed=3, piece_tokens=piece_tokens)


def test_sentence_blocks_pack_whole_sentences_each_followed_by_a_separator():
  # Sentences 0-2 (3 tokens), 3-4 (2), 5-8 (4), 9 (1), in corpus order (piece shuffle).
  source = _sentence_source([3, 2, 4, 1])
  blocks = list(data.sentence_blocks(source, epochs=1, tokens_per_step=6, steps=1))
  assert len(blocks) == 2
  # "3 4" fits after "0 1 2 -1"; "5 6 7 8" does not: the next step (here, the next block).
  np.testing.assert_array_equal(blocks[0].batches["tokens"], [[0, 1, 2, -1, 3, 4]])
  np.testing.assert_array_equal(blocks[1].batches["tokens"], [[5, 6, 7, 8, -1, 9]])
  assert blocks[0].end == data.Position(0, 2) and blocks[1].end == data.Position(1, 0)
  assert blocks[-1].words == source.piece_words.sum()
  two = list(data.sentence_blocks(source, epochs=1, tokens_per_step=6, steps=3))
  np.testing.assert_array_equal(two[0].batches["tokens"], [
      [0, 1, 2, -1, 3, 4], [5, 6, 7, 8, -1, 9], [-1] * 6])  # The last block, padded.


def test_sentence_blocks_cut_sentences_longer_than_a_step():
  source = _sentence_source([9, 2])
  rows = np.concatenate([b.batches["tokens"] for b in data.sentence_blocks(source, 1, 4, 2)])
  np.testing.assert_array_equal(rows[:4], [[0, 1, 2, 3], [4, 5, 6, 7], [8, -1, 9, 10],
                                           [-1, -1, -1, -1]])


@pytest.mark.parametrize("shuffle", ["corpus", "piece"])
def test_sentence_blocks_resume_from_any_block_and_count_their_steps(shuffle):
  rng = np.random.default_rng(1)
  source = _sentence_source(rng.integers(1, 30, 400).tolist(), piece_tokens=500,
                            shuffle=shuffle)
  blocks = list(data.sentence_blocks(source, epochs=2, tokens_per_step=64, steps=3))
  for k in (1, 5, len(blocks) - 2):
    resumed = list(data.sentence_blocks(source, 2, 64, 3, start=blocks[k - 1].end))
    assert len(resumed) == len(blocks) - k
    for got, want in zip(resumed, blocks[k:]):
      np.testing.assert_array_equal(got.batches["tokens"], want.batches["tokens"])
      assert got.end == want.end and got.words == want.words
  tokens = np.concatenate([b.batches["tokens"].ravel() for b in blocks])
  assert (tokens >= 0).sum() == 2 * len(source.corpus.ids)  # Every token, once an epoch.
  steps = sum(b.batches["tokens"].shape[0] for b in blocks)
  # Counted from epoch 0's packing: exact for one epoch, within a step per epoch for more.
  assert abs(data.count_sentence_steps(source, 2, 64) - steps) <= 3
  one = sum(b.batches["tokens"].shape[0] for b in data.sentence_blocks(source, 1, 64, 1))
  assert data.count_sentence_steps(source, 1, 64) == one
