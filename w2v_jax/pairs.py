"""Skip-gram training pairs in vectorized NumPy: subsampling, windows, pair extraction."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def word2vec_keep_prob(counts: np.ndarray, threshold: float) -> np.ndarray:
  """word2vec.c's keep probability sqrt(t/f) + t/f (capped at 1) from real frequencies f."""
  counts = np.asarray(counts, np.float64)
  if threshold <= 0:
    return np.ones(len(counts))
  tc = threshold * counts.sum()
  with np.errstate(divide="ignore"):
    keep = (np.sqrt(counts / tc) + 1.0) * tc / counts
  return np.minimum(1.0, np.where(counts > 0, keep, 1.0))


def zipf_sampling_table(size: int, sampling_factor: float = 1e-5) -> np.ndarray:
  """Keras' `make_sampling_table`: keep probability of rank r from a Zipf approximation."""
  rank = np.arange(size, dtype=np.float64)
  rank[0] = 1
  inv_fq = rank * (np.log(rank) + 0.577) + 0.5 - 1.0 / (12.0 * rank)
  return np.minimum(1.0, np.sqrt(sampling_factor * inv_fq))


def subsample(
    ids: np.ndarray, offsets: np.ndarray, keep_prob: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
  """Drops each token with probability 1 - keep_prob[id]; sentences close up around the gaps."""
  keep = rng.random(len(ids)) < keep_prob[ids]
  kept_before = np.concatenate([[0], np.cumsum(keep)])
  return ids[keep], kept_before[offsets]


def draw_windows(n: int, window: int, rng: np.random.Generator, dynamic: bool) -> np.ndarray:
  """Each token's window radius: uniform in [1, window] (word2vec's reduced window) or fixed."""
  if dynamic:
    return (window - rng.integers(0, window, n)).astype(np.int32)
  return np.full(n, window, np.int32)


def _pair_masks(
    ids: np.ndarray,
    offsets: np.ndarray,
    windows: np.ndarray,
    target_mask: np.ndarray | None,
    skip_id: int | None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
  """For each distance d: which (i, i+d) pairs are in a window, forward (i targets) and backward."""
  n = len(ids)
  sentence = np.repeat(np.arange(len(offsets) - 1, dtype=np.int32), np.diff(offsets))
  can_target = np.ones(n, bool) if target_mask is None else target_mask.astype(bool)
  can_context = np.ones(n, bool)
  if skip_id is not None:
    can_context = ids != skip_id
    can_target = can_target & can_context
  for d in range(1, int(windows.max(initial=0)) + 1):
    same = sentence[:-d] == sentence[d:]
    left, right = slice(None, -d), slice(d, None)
    fwd = same & (windows[left] >= d) & can_target[left] & can_context[right]
    bwd = same & (windows[right] >= d) & can_target[right] & can_context[left]
    yield d, fwd, bwd


def skipgram_pairs(
    ids: np.ndarray,
    offsets: np.ndarray,
    windows: np.ndarray,
    target_mask: np.ndarray | None = None,
    skip_id: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """All (target, context) pairs within each target's window, inside sentence boundaries.

  `target_mask[i]` False stops token i being a target (the seed subsamples targets only); tokens
  equal to `skip_id` (the seed's padding) are neither targets nor contexts. Pairs come grouped by
  distance, not in corpus order: callers shuffle.
  """
  targets, contexts = [np.zeros(0, np.int32)], [np.zeros(0, np.int32)]
  for d, fwd, bwd in _pair_masks(ids, offsets, windows, target_mask, skip_id):
    left, right = ids[:-d], ids[d:]
    targets += [left[fwd], right[bwd]]
    contexts += [right[fwd], left[bwd]]
  return np.concatenate(targets).astype(np.int32), np.concatenate(contexts).astype(np.int32)


def count_pairs(
    ids: np.ndarray,
    offsets: np.ndarray,
    windows: np.ndarray,
    target_mask: np.ndarray | None = None,
    skip_id: int | None = None,
) -> int:
  """len(skipgram_pairs(...)[0]) without building the pairs."""
  masks = _pair_masks(ids, offsets, windows, target_mask, skip_id)
  return sum(int(fwd.sum()) + int(bwd.sum()) for _, fwd, bwd in masks)


def window_examples(
    ids: np.ndarray,
    offsets: np.ndarray,
    windows: np.ndarray,
    window_size: int,
    context_mask: np.ndarray | None = None,
    skip_id: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """One example per centre token: its context ids in the window, padded to 2 * window_size.

  Slot j holds the token at distance j - W (j < W) or j - W + 1 (j >= W), valid when that distance
  is within the centre's radius `windows[i]` and the sentence. Centres without any valid context
  are left out. `context_mask[i]` False keeps token i out of every window (the seed subsamples the
  input side only); tokens equal to `skip_id` are neither centres nor contexts. Returns centres
  int32 [N], contexts int32 [N, 2W] (0 where padded) and mask float32 [N, 2W], in corpus order.

  With fixed windows these are exactly `skipgram_pairs`' pairs, each (target, context) appearing
  as (context slot, centre); with dynamic windows the radius belongs to the centre, as in
  word2vec.c.
  """
  n = len(ids)
  distances = np.concatenate([np.arange(-window_size, 0), np.arange(1, window_size + 1)])
  sentence = np.repeat(np.arange(len(offsets) - 1, dtype=np.int32), np.diff(offsets))
  usable = np.ones(n, bool) if context_mask is None else context_mask.astype(bool)
  centre_ok = np.ones(n, bool)
  if skip_id is not None:
    usable &= ids != skip_id
    centre_ok = ids != skip_id
  positions = np.arange(n)[:, None] + distances[None, :]
  inside = (positions >= 0) & (positions < n)
  positions = np.where(inside, positions, 0)
  valid = (inside & (np.abs(distances)[None, :] <= windows[:, None])
           & (sentence[positions] == sentence[:, None]) & usable[positions] & centre_ok[:, None])
  keep = valid.any(axis=1)
  contexts = np.where(valid, ids[positions], 0)[keep].astype(np.int32)
  return ids[keep].astype(np.int32), contexts, valid[keep].astype(np.float32)
