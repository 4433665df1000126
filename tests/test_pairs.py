import os
import numpy as np
import pytest

from w2v_jax import corpus as corpus_lib
from w2v_jax import pairs, text
from w2v_jax import vocab as vocab_lib


def _pair_set(targets, contexts):
  return sorted(zip(targets.tolist(), contexts.tolist()))


def test_exact_pairs_for_fixed_window_draws():
  # Two sentences: [10 11 12 13] and [20 21 22].
  ids = np.array([10, 11, 12, 13, 20, 21, 22], np.int32)
  offsets = np.array([0, 4, 7])
  windows = np.array([1, 2, 1, 2, 2, 1, 1], np.int32)
  t, c = pairs.skipgram_pairs(ids, offsets, windows)
  expected = [
      (10, 11),                       # 10: radius 1
      (11, 10), (11, 12), (11, 13),   # 11: radius 2
      (12, 11), (12, 13),             # 12: radius 1
      (13, 11), (13, 12),             # 13: radius 2, sentence ends
      (20, 21), (20, 22),             # 20: radius 2
      (21, 20), (21, 22),             # 21: radius 1
      (22, 21),                       # 22: radius 1
  ]
  assert _pair_set(t, c) == sorted(expected)
  assert pairs.count_pairs(ids, offsets, windows) == len(expected)


def test_target_mask_and_skip_id():
  ids = np.array([5, 6, 0, 0], np.int32)  # A padded sequence (the seed's id 0).
  offsets = np.array([0, 4])
  windows = np.full(4, 2, np.int32)
  t, c = pairs.skipgram_pairs(ids, offsets, windows, skip_id=0)
  assert _pair_set(t, c) == [(5, 6), (6, 5)]
  t, c = pairs.skipgram_pairs(ids, offsets, windows, target_mask=np.array([0, 1, 1, 1]), skip_id=0)
  assert _pair_set(t, c) == [(6, 5)]


def test_dynamic_windows_are_uniform_in_1_to_window():
  w = pairs.draw_windows(100_000, 5, np.random.default_rng(0), dynamic=True)
  counts = np.bincount(w, minlength=6)
  assert counts[0] == 0
  np.testing.assert_allclose(counts[1:] / len(w), 0.2, atol=0.01)
  assert (pairs.draw_windows(7, 3, np.random.default_rng(0), dynamic=False) == 3).all()


def test_word2vec_keep_probability_formula():
  counts = np.array([1000, 100, 10, 0])
  t = 1e-2
  f = counts[:3] / counts.sum()
  expected = np.minimum(1.0, np.sqrt(t / f) + t / f)
  keep = pairs.word2vec_keep_prob(counts, t)
  np.testing.assert_allclose(keep[:3], expected)
  # By hand for the most frequent word: f = 1000/1110, sqrt(.0111) + .0111 = 0.11646...
  assert keep[0] == pytest.approx(np.sqrt(0.0111) + 0.0111, rel=1e-12)
  assert keep[3] == 1.0
  assert (pairs.word2vec_keep_prob(counts, 0.0) == 1.0).all()


def test_subsampling_keeps_tokens_at_their_probability_and_closes_sentences():
  rng = np.random.default_rng(0)
  ids = np.repeat(np.arange(3), 20_000).astype(np.int32)
  rng.shuffle(ids)
  offsets = np.arange(0, len(ids) + 1, 6)
  keep = np.array([0.1, 0.5, 1.0])
  kept, new_offsets = pairs.subsample(ids, offsets, keep, rng)
  rate = np.bincount(kept, minlength=3) / 20_000
  np.testing.assert_allclose(rate, keep, atol=0.01)
  assert new_offsets[0] == 0 and new_offsets[-1] == len(kept)
  assert (np.diff(new_offsets) <= 6).all()


def test_zipf_sampling_table_matches_keras_reference_values():
  table = pairs.zipf_sampling_table(4096)
  for rank, value in [(0, 0.00315), (1, 0.00315), (10, 0.0171), (100, 0.072), (1000, 0.274),
                      (4095, 0.604)]:
    assert table[rank] == pytest.approx(value, abs=5e-4), rank


def test_encode_drops_oov_or_maps_to_unk_and_pads():
  sentences = [["a", "b", "zz", "a"], ["zz"], ["b"]]
  v = vocab_lib.build_vocab({"a": 2, "b": 2, "zz": 1}, min_count=2)
  c = corpus_lib.encode(iter(sentences), v)
  np.testing.assert_array_equal(c.ids, [0, 1, 0, 1])
  np.testing.assert_array_equal(c.offsets, [0, 3, 4])
  assert c.raw_words == 6
  v = vocab_lib.build_vocab({"a": 2, "b": 2, "zz": 1}, min_count=2, reserved=True)
  c = corpus_lib.encode(iter(sentences), v, sequence_length=3)
  np.testing.assert_array_equal(c.ids, [2, 3, 1, 1, 0, 0, 3, 0, 0])
  np.testing.assert_array_equal(c.offsets, [0, 3, 6, 9])


def _pair_multiset(pairs):
  return sorted(zip(*[np.asarray(x).tolist() for x in pairs]))


@pytest.mark.parametrize("skip_id", [None, 0])
def test_fixed_windows_hold_exactly_the_skipgram_pairs(skip_id):
  rng = np.random.default_rng(3)
  lengths = rng.integers(1, 9, 30)
  ids = rng.integers(0, 6, lengths.sum()).astype(np.int32)
  offsets = np.concatenate([[0], np.cumsum(lengths)])
  windows = pairs.draw_windows(len(ids), 2, rng, dynamic=False)
  target_mask = rng.random(len(ids)) < 0.7
  centres, contexts, mask = pairs.window_examples(ids, offsets, windows, 2, target_mask, skip_id)
  assert contexts.shape == (len(centres), 4) and mask.any(axis=1).all()
  # Each valid slot is a pair: the slot's word is the target (input), the centre the context.
  b, s = np.nonzero(mask)
  from_windows = _pair_multiset((contexts[b, s], centres[b]))
  expected = _pair_multiset(pairs.skipgram_pairs(ids, offsets, windows, target_mask, skip_id))
  assert from_windows == expected


def test_window_slots_by_hand():
  # Sentence [10 11 12] [13 14]; radius 1 everywhere except token 12 (radius 2).
  ids = np.array([10, 11, 12, 13, 14], np.int32)
  offsets = np.array([0, 3, 5])
  windows = np.array([1, 1, 2, 1, 1], np.int32)
  centres, contexts, mask = pairs.window_examples(ids, offsets, windows, 2)
  np.testing.assert_array_equal(centres, ids)
  # Slots: distance -2, -1, +1, +2.
  np.testing.assert_array_equal(mask, [[0, 0, 1, 0], [0, 1, 1, 0], [1, 1, 0, 0],
                                       [0, 0, 1, 0], [0, 1, 0, 0]])
  np.testing.assert_array_equal(contexts * mask, [[0, 0, 11, 0], [0, 10, 12, 0],
                                                  [10, 11, 0, 0], [0, 0, 14, 0], [0, 13, 0, 0]])


@pytest.mark.parametrize("vocab_words, sequence_length", [(50, None), (70_000, None), (50, 4)])
def test_encode_to_files_streams_what_encode_builds(tmp_path, vocab_words, sequence_length):
  rng = np.random.default_rng(0)
  words = [f"w{i}" for i in range(vocab_words)]
  sentences = [[words[i] for i in rng.integers(0, vocab_words, rng.integers(0, 12))]
               for _ in range(300)]
  v = vocab_lib.build_vocab(dict.fromkeys(words, 5), min_count=1,
                            reserved=sequence_length is not None)
  expected = corpus_lib.encode(iter(sentences), v, sequence_length)
  ids_path, offsets_path = str(tmp_path / "ids.npy"), str(tmp_path / "offsets.npy")
  raw = corpus_lib.encode_to_files(iter(sentences), v, ids_path, offsets_path, sequence_length,
                                   chunk=64)  # Many spills.
  ids, offsets = np.load(ids_path), np.load(offsets_path)
  assert ids.dtype == expected.ids.dtype == (np.uint16 if vocab_words < 65_000 else np.int32)
  np.testing.assert_array_equal(ids, expected.ids)
  np.testing.assert_array_equal(offsets, expected.offsets)
  assert raw == expected.raw_words
  assert sorted(os.listdir(tmp_path)) == ["ids.npy", "offsets.npy"]  # No temp files left.


def test_cached_corpus_is_memory_mapped_and_equals_the_built_one(tmp_path):
  path = tmp_path / "c.txt"
  path.write_text("a b c a\n\nb a d\n" * 50, encoding="utf-8")
  spec = corpus_lib.CorpusSpec((str(path),), min_count=1)
  vocab, built = corpus_lib.build(spec)
  for _ in range(2):  # Built into the cache, then read back from it.
    cached_vocab, cached = corpus_lib.load_or_build(spec, str(tmp_path / "cache"))
    assert isinstance(cached.ids, np.memmap) and isinstance(cached.offsets, np.memmap)
    assert cached_vocab.words == vocab.words
    np.testing.assert_array_equal(cached.ids, built.ids)
    np.testing.assert_array_equal(cached.offsets, built.offsets)
    assert cached.raw_words == built.raw_words == 350


@pytest.mark.parametrize("settings", [
    {"min_count": 2}, {"min_count": 1, "reserved_tokens": True, "max_vocab": 5},
    {"min_count": 2, "max_sentence_length": 3, "tie_break": "descending"}])
def test_one_pass_build_equals_counting_then_encoding(tmp_path, settings, monkeypatch):
  """The cache's one-pass build (provisional ids, remapped once the counts are known) gives the
  vocabulary, ids and sentences of the two-pass `build`, whatever the chunking."""
  rng = np.random.default_rng(1)
  words = [f"w{i}" for i in range(12)] + ["zz"]  # zz: once, out of the vocabulary at count 2.
  lines = [" ".join(words[i] for i in rng.integers(0, 12, rng.integers(1, 9))) for _ in range(40)]
  lines[7] = "zz"  # A sentence left empty by out-of-vocabulary words: dropped.
  path = tmp_path / "c.txt"
  path.write_text("\n".join(lines) + "\n", encoding="utf-8")
  if "max_sentence_length" in settings:  # word2vec.c's cut, shortened: sentences of 3 tokens.
    monkeypatch.setattr(text, "MAX_SENTENCE_LENGTH", settings.pop("max_sentence_length"))
  spec = corpus_lib.CorpusSpec((str(path),), **settings)
  vocab, built = corpus_lib.build(spec)
  for chunk in (1 << 20, 5):  # One chunk; many, spilled and read back.
    out = tmp_path / f"out{chunk}"
    one_pass, raw = corpus_lib.build_to_files(spec, str(out / "ids.npy"), str(out / "offsets.npy"),
                                              chunk=chunk)
    assert one_pass.words == vocab.words and one_pass.reserved == vocab.reserved
    np.testing.assert_array_equal(one_pass.counts, vocab.counts)
    np.testing.assert_array_equal(np.load(out / "ids.npy"), built.ids)
    np.testing.assert_array_equal(np.load(out / "offsets.npy"), built.offsets)
    assert raw == built.raw_words == sum(len(line.split()) for line in lines)
    assert sorted(os.listdir(out)) == ["ids.npy", "offsets.npy"]  # No temp files left.
  assert np.all(np.diff(built.offsets) > 0)  # The "zz" line left no empty sentence.
