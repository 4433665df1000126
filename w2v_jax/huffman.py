"""word2vec.c's hierarchical-softmax Huffman tree (CreateBinaryTree), as padded arrays."""

from __future__ import annotations

import dataclasses

import numpy as np

_SENTINEL = int(1e15)  # word2vec.c's count for internal nodes not yet built.


@dataclasses.dataclass(frozen=True, eq=False)
class HuffmanTree:
  """Each word's path from the root: internal-node rows and the branch taken at each."""

  points: np.ndarray  # int32 [V, L]: rows 0..V-2 of the tree table, root (V-2) first; padding V-1.
  codes: np.ndarray  # int8 [V, L]: word2vec.c's code[d] (0 or 1) at points[:, d]; padding 0.
  lengths: np.ndarray  # int32 [V]: path length (word2vec.c's codelen); L = max(lengths).

  @property
  def num_nodes(self) -> int:
    """Internal nodes, i.e. rows of the tree table (V - 1)."""
    return self.points.shape[0] - 1


def build_huffman(counts: np.ndarray) -> HuffmanTree:
  """word2vec.c's CreateBinaryTree over counts sorted descending; ValueError under 2 words."""
  counts = np.asarray(counts, np.int64)
  if counts.ndim != 1:
    raise ValueError(f"counts must be 1-D, got shape {counts.shape}")
  v = counts.shape[0]
  if v < 2:
    raise ValueError("hierarchical softmax needs at least 2 words in the vocabulary")
  if (counts < 0).any():
    raise ValueError("counts must be non-negative")

  # Two cursors: pos1 walks the leaves from the rarest up, pos2 walks the internal nodes in the
  # order they are built. Strict `<`: on a tie the internal node is taken, as in word2vec.c.
  count = counts.tolist() + [_SENTINEL] * v
  parent = [0] * (2 * v)
  binary = [0] * (2 * v)
  pos1, pos2 = v - 1, v
  for a in range(v, 2 * v - 1):
    if pos1 >= 0 and count[pos1] < count[pos2]:
      min1 = pos1
      pos1 -= 1
    else:
      min1 = pos2
      pos2 += 1
    if pos1 >= 0 and count[pos1] < count[pos2]:
      min2 = pos1
      pos1 -= 1
    else:
      min2 = pos2
      pos2 += 1
    count[a] = count[min1] + count[min2]
    parent[min1] = a
    parent[min2] = a
    binary[min2] = 1

  parent_np = np.asarray(parent, np.int64)
  binary_np = np.asarray(binary, np.int8)
  root = 2 * v - 2
  # Walk all leaves to the root together; step s holds each word's s-th node from the leaf.
  step_codes, step_parents = [], []
  lengths = np.zeros(v, np.int32)
  node = np.arange(v, dtype=np.int64)
  active = np.ones(v, bool)
  while active.any():
    step_codes.append(binary_np[node])
    step_parents.append(parent_np[node])
    lengths += active
    node = np.where(active, parent_np[node], root)
    active = node != root

  max_len = int(lengths.max())
  points = np.full((v, max_len), v - 1, np.int32)
  codes = np.zeros((v, max_len), np.int8)
  words = np.arange(v)
  for s, (c, p) in enumerate(zip(step_codes, step_parents)):
    live = s < lengths
    # Reversed so index 0 is the root: step s lands at d = length - 1 - s, whose internal node
    # is the parent of the step-s node (row = node - V), exactly word2vec.c's point/code.
    d = lengths[live] - 1 - s
    codes[words[live], d] = c[live]
    points[words[live], d] = p[live] - v
  return HuffmanTree(points=points, codes=codes, lengths=lengths)


def path_mask(tree: HuffmanTree) -> np.ndarray:
  """float32 [V, L]: 1 where d < lengths (a real node of the word's path), else 0."""
  depth = np.arange(tree.points.shape[1])
  return (depth[None, :] < tree.lengths[:, None]).astype(np.float32)
