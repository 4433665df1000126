"""Huffman tree: hand-worked word2vec.c answers and properties of optimal prefix codes."""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from w2v_jax import huffman


def _huffman_cost(counts: np.ndarray) -> int:
  """Optimal sum(count * depth), by an independent heapq Huffman build (sum of all merges)."""
  heap = [int(c) for c in counts]
  heapq.heapify(heap)
  cost = 0
  while len(heap) > 1:
    merged = heapq.heappop(heap) + heapq.heappop(heap)
    cost += merged
    heapq.heappush(heap, merged)
  return cost


def _check_tree(tree: huffman.HuffmanTree) -> None:
  """Prefix-free unique codes, root first, one row per internal node, padding V-1 / 0."""
  v = tree.lengths.shape[0]
  max_len = int(tree.lengths.max())
  assert tree.points.shape == tree.codes.shape == (v, max_len)
  assert tree.points.dtype == np.int32 and tree.codes.dtype == np.int8
  assert tree.lengths.dtype == np.int32 and tree.num_nodes == v - 1
  assert (tree.lengths >= 1).all()
  np.testing.assert_array_equal(tree.points[:, 0], v - 2)
  mask = huffman.path_mask(tree).astype(bool)
  assert (tree.points[~mask] == v - 1).all() and (tree.codes[~mask] == 0).all()
  assert set(np.unique(tree.codes[mask]).tolist()) <= {0, 1}

  words = [tuple(tree.codes[w, :n].tolist()) for w, n in enumerate(tree.lengths)]
  assert len(set(words)) == v
  ordered = sorted(words)
  for a, b in zip(ordered, ordered[1:]):
    assert b[: len(a)] != a, f"{a} is a prefix of {b}"
  # Each internal node is one code prefix; the same prefix must always name the same row,
  # and the V-1 prefixes must use the V-1 rows exactly once.
  row_of_prefix: dict[tuple[int, ...], int] = {}
  for w, code in enumerate(words):
    for d in range(len(code)):
      row = int(tree.points[w, d])
      assert row_of_prefix.setdefault(code[:d], row) == row
  assert sorted(row_of_prefix.values()) == list(range(v - 1))


def test_hand_worked_tree_with_ties():
  # word2vec.c CreateBinaryTree on counts [5, 3, 3, 2, 2, 1], V = 6. Leaves 0..5, internal
  # nodes 6..10 (count 1e15 until built). pos1 = 5 (leaves, downwards), pos2 = 6 (internal).
  # Each pick: leaf if count[pos1] < count[pos2] (strict), else the internal node.
  #   a=0: 1 < 1e15 -> min1 = 5; 2 < 1e15 -> min2 = 4.    node 6 = 3.  binary[4] = 1
  #   a=1: 2 < 3    -> min1 = 3; 3 < 3 is false (TIE) -> min2 = 6.  node 7 = 5.  binary[6] = 1
  #   a=2: 3 < 5    -> min1 = 2; 3 < 5 -> min2 = 1.        node 8 = 6.  binary[1] = 1
  #   a=3: 5 < 5 is false (TIE) -> min1 = 7; 5 < 6 -> min2 = 0.  node 9 = 10. binary[0] = 1
  #   a=4: leaves used up -> min1 = 8, min2 = 9.           node 10 = 16 (root). binary[9] = 1
  # Parents: 0->9, 1->8, 2->8, 3->7, 4->6, 5->6, 6->7, 7->9, 8->10, 9->10.
  # Each path reversed to start at the root; point = internal node - 6 (root row 4), code[d] =
  # binary[] of the node the path enters at depth d:
  #   word 0: 10 -> 9 -> 0:           points [4, 3],       codes [1, 1]
  #   word 1: 10 -> 8 -> 1:           points [4, 2],       codes [0, 1]
  #   word 2: 10 -> 8 -> 2:           points [4, 2],       codes [0, 0]
  #   word 3: 10 -> 9 -> 7 -> 3:      points [4, 3, 1],    codes [1, 0, 0]
  #   word 4: 10 -> 9 -> 7 -> 6 -> 4: points [4, 3, 1, 0], codes [1, 0, 1, 1]
  #   word 5: 10 -> 9 -> 7 -> 6 -> 5: points [4, 3, 1, 0], codes [1, 0, 1, 0]
  # With `<=` the ties would pick leaves instead (a=1 takes word 2, not node 6), giving another
  # optimal tree: lengths [2, 2, 3, 3, 3, 3], codes [1,0], [0,0], [1,1,1], ... Padding: point 5
  # (= V - 1), code 0.
  tree = huffman.build_huffman(np.array([5, 3, 3, 2, 2, 1]))
  np.testing.assert_array_equal(tree.lengths, [2, 2, 2, 3, 4, 4])
  np.testing.assert_array_equal(tree.points, [
      [4, 3, 5, 5],
      [4, 2, 5, 5],
      [4, 2, 5, 5],
      [4, 3, 1, 5],
      [4, 3, 1, 0],
      [4, 3, 1, 0],
  ])
  np.testing.assert_array_equal(tree.codes, [
      [1, 1, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 0, 0],
      [1, 0, 0, 0],
      [1, 0, 1, 1],
      [1, 0, 1, 0],
  ])
  np.testing.assert_array_equal(huffman.path_mask(tree), [
      [1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1],
  ])
  # 5*2 + 3*2 + 3*2 + 2*3 + 2*4 + 1*4 = 40 = 3 + 5 + 6 + 10 + 16 (heapq merges).
  assert int((tree.lengths * np.array([5, 3, 3, 2, 2, 1])).sum()) == 40 == _huffman_cost(
      np.array([5, 3, 3, 2, 2, 1]))
  _check_tree(tree)


@pytest.mark.parametrize("counts", [[3, 1], [2, 2], [0, 0]])
def test_two_words_share_the_root(counts):
  # a=0: count[1] < 1e15 -> min1 = word 1 (code 0); then min2 = word 0 (code 1). Root row 0.
  tree = huffman.build_huffman(np.array(counts))
  np.testing.assert_array_equal(tree.lengths, [1, 1])
  np.testing.assert_array_equal(tree.points, [[0], [0]])
  np.testing.assert_array_equal(tree.codes, [[1], [0]])
  assert tree.num_nodes == 1


@pytest.mark.parametrize("seed,size", [(0, 3), (1, 50), (2, 1000), (3, 5000)])
def test_zipf_counts_give_an_optimal_prefix_code(seed, size):
  rng = np.random.default_rng(seed)
  counts = np.sort(rng.zipf(1.5, size).astype(np.int64))[::-1]
  tree = huffman.build_huffman(counts)
  _check_tree(tree)
  assert int((counts * tree.lengths).sum()) == _huffman_cost(counts)


def test_zero_counts_still_build_a_tree():
  counts = np.array([7, 4, 1, 0, 0, 0])
  tree = huffman.build_huffman(counts)
  _check_tree(tree)
  assert int((counts * tree.lengths).sum()) == _huffman_cost(counts)


def test_reserved_pad_first_is_a_valid_tree():
  # Vocab(reserved=True) puts '' (count 0) and [UNK] first; no re-sort, the tree stays valid.
  tree = huffman.build_huffman(np.array([0, 9, 20, 5, 5, 1]))
  _check_tree(tree)


@pytest.mark.parametrize("counts", [[], [5]])
def test_fewer_than_two_words_raises(counts):
  with pytest.raises(ValueError, match="at least 2 words"):
    huffman.build_huffman(np.array(counts, np.int64))


def test_weighted_cost_matches_gensim():
  word2vec = pytest.importorskip("gensim.models.word2vec")
  keyed_vectors = pytest.importorskip("gensim.models.keyedvectors")
  counts = np.sort(np.random.default_rng(7).zipf(1.3, 2000).astype(np.int64))[::-1]
  wv = keyed_vectors.KeyedVectors(vector_size=4)
  wv.index_to_key = [f"w{i}" for i in range(len(counts))]
  wv.key_to_index = {w: i for i, w in enumerate(wv.index_to_key)}
  for word, count in zip(wv.index_to_key, counts.tolist()):
    wv.set_vecattr(word, "count", count)
  word2vec._assign_binary_codes(wv)
  gensim_lengths = np.array([len(wv.get_vecattr(i, "code")) for i in range(len(counts))])
  tree = huffman.build_huffman(counts)
  assert int((counts * tree.lengths).sum()) == int((counts * gensim_lengths).sum())
