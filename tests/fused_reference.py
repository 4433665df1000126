"""The fused kernel's rules as plain NumPy loops (float64): what w2v_jax/kernels/word2vec.cc must do.

Its random numbers first (a twin of the kernel's counter-based generator), then a step over a
batch of sentences: subsampling, windows, negatives and each update rule, written as word2vec.c
and fastText write theirs, one window (or pair) and one output row at a time.
"""

from __future__ import annotations

import math

import numpy as np

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
SUBSAMPLE, RADIUS, NEGATIVE, REDRAW = 1, 2, 3, 4
MAX_DRAWS = 64  # fastText's redraws of a negative equal to its target, at most (then left out).


def mix(z: int) -> int:
  z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
  z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
  return z ^ (z >> 31)


def counter(key: tuple[int, int], step: int, position: int) -> int:
  """The generator of one (step, token position): its base."""
  key64 = int(key[0]) << 32 | int(key[1])
  return mix(key64 ^ mix(((step << 32 | position) + GOLDEN) & MASK))


def draw(base: int, stream: int, i: int) -> int:
  return mix((base + (stream << 32 | i) * GOLDEN) & MASK)


def unit24(x: int) -> float:
  return (x & 0xFFFFFF) / 16777216.0


def negative(base: int, i: int, prob: np.ndarray, alias: np.ndarray,
             stream: int = NEGATIVE) -> int:
  x = draw(base, stream, i)
  column = ((x >> 32) * len(prob)) >> 32
  return column if unit24(x) < prob[column] else int(alias[column])


def sigmoid(f: float) -> float:
  return 1.0 / (1.0 + math.exp(-f))


def softplus(x: float) -> float:
  return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def sentences(tokens):
  """(begin, end) of each run of ids >= 0."""
  tokens = list(np.asarray(tokens))
  p = 0
  while p < len(tokens):
    if tokens[p] < 0:
      p += 1
      continue
    q = p
    while q < len(tokens) and tokens[q] >= 0:
      q += 1
    yield p, q
    p = q


class Reference:
  """One step of the kernel's rules on float64 copies of the tables.

  `kernel`: a w2v_jax.fused.Kernel (its rule and windows); `lookups`: host arrays (keep,
  noise, tree, n-grams).
  """

  def __init__(self, kernel, tables, lookups, lr: float, key, step: int):
    self.kernel, self.k = kernel, kernel.rule
    self.t = {name: np.array(table, np.float64) for name, table in tables.items()}
    self.l = lookups
    self.lr, self.key, self.step = lr, key, step
    self.metrics = np.zeros(4)  # loss, correct, count, pairs

  # ---- inputs ----
  def input_rows(self, w):
    rows = [("input", w)]
    if self.l.ngram_ids is not None:
      off = self.l.ngram_offsets
      rows += [("ngrams", int(i)) for i in self.l.ngram_ids[off[w]:off[w + 1]]]
    return rows

  def input_vector(self, w):
    rows = self.input_rows(w)
    return sum(self.t[t][i] for t, i in rows) / len(rows)

  def add_to_inputs(self, w, delta):
    for t, i in self.input_rows(w):
      self.t[t][i] += delta

  # ---- outputs: [(table, row, label, weight)] ----
  def target_outputs(self, target, base, first, redraw=False):
    """word2vec.c skips a negative equal to the target; fastText (`redraw`) draws it again."""
    outs = []
    if self.k.hs:
      for d in range(self.l.lengths[target]):
        outs.append(("tree", int(self.l.points[target, d]), 1.0 - self.l.codes[target, d], 1.0))
    if self.k.num_ns:
      outs.append(("output", target, 1.0, 1.0))
      for k in range(self.k.num_ns):
        i = first + k
        t = negative(base, i, self.l.noise.prob, self.l.noise.alias)
        a = 1
        while redraw and t == target and a < MAX_DRAWS:
          t = negative(base, i * MAX_DRAWS + a, self.l.noise.prob, self.l.noise.alias, REDRAW)
          a += 1
        if t != target:
          outs.append(("output", t, 0.0, 1.0))
    return outs

  def score(self, logits, outs):
    self.metrics[0] += sum(softplus(-f if label > 0.5 else f)
                           for f, (_, _, label, _) in zip(logits, outs))
    nodes = sum(t == "tree" for t, _, _, _ in outs)
    if len(outs) > nodes:
      self.metrics[1] += logits[nodes] >= max(logits[nodes + 1:], default=-math.inf)
    else:
      self.metrics[1] += np.mean([(label > 0.5) == (f > 0) for f, (_, _, label, _) in
                                  zip(logits, outs)])
    self.metrics[2] += 1

  def predict(self, hs, outs, score=True):
    """Inputs hs against outs from the rows as they are; errors from the old rows, then the
    outputs updated; returns the errors (and the logits)."""
    logits = [[h @ self.t[t][i] for t, i, _, _ in outs] for h in hs]
    if score:
      for f in logits:
        self.score(f, outs)
    grads = [[(label - sigmoid(f)) * w * self.lr for f, (_, _, label, w) in zip(fs, outs)]
             for fs in logits]
    errors = [sum((g * self.t[t][i] for g, (t, i, _, _) in zip(gs, outs)),
                  np.zeros_like(hs[0])) for gs in grads]
    for o, (t, i, _, _) in enumerate(outs):
      self.t[t][i] += sum(grads[j][o] * hs[j] for j in range(len(hs)))
    return errors, logits

  def predict_in_turn(self, h, outs):
    """word2vec.c's and fastText's loop: each output's logit from its row as the outputs before
    it left it; the error gets g * row, then the row += g * h. Returns the error."""
    error = np.zeros_like(h)
    logits = []
    for t, i, label, w in outs:
      f = h @ self.t[t][i]
      g = (label - sigmoid(f)) * w * self.lr
      error += g * self.t[t][i]
      self.t[t][i] += g * h
      logits.append(f)
    self.score(logits, outs)
    return error

  # ---- a step ----
  def run(self, tokens):
    for begin, end in sentences(tokens):
      self.sentence(tokens, begin, end)
    return self

  def all_windows(self, tokens):
    return [w for begin, end in sentences(tokens) for w in self.windows(tokens, begin, end)]

  def sentence(self, tokens, begin, end):
    for centre, ctx, base in self.windows(tokens, begin, end):
      self.metrics[3] += len(ctx)
      if self.k.model == "cbow":
        self.cbow(centre, [w for w, _ in ctx], base)
      elif self.k.centre_input:
        (self.centre_pairs if self.k.per_pair else self.centre_window)(centre, ctx, base)
      else:
        (self.context_pairs if self.k.per_pair else self.context_window)(centre, ctx, base)

  def windows(self, tokens, begin, end):
    """A sentence's windows in turn: (centre, [(context, slot)], the centre's generator)."""
    kept = []
    for p in range(begin, end):
      w = int(tokens[p])
      keep = self.l.keep
      if keep is not None and keep[w] < 1 and not unit24(
          draw(counter(self.key, self.step, p), SUBSAMPLE, 0)) < keep[w]:
        continue
      kept.append((w, p))
    window = self.kernel.window
    for c, (centre, position) in enumerate(kept):
      base = counter(self.key, self.step, position)
      radius = window - ((draw(base, RADIUS, 0) >> 32) % window
                         if self.kernel.dynamic_window else 0)
      ctx = [(kept[a][0], a - c + window if a < c else a - c + window - 1)
             for a in range(max(0, c - radius), min(len(kept) - 1, c + radius) + 1) if a != c]
      if ctx:
        yield centre, ctx, base

  def context_window(self, centre, ctx, base):
    outs = self.target_outputs(centre, base, 0)
    hs = [self.input_vector(w) for w, _ in ctx]
    errors, _ = self.predict(hs, outs)
    for (w, _), e in zip(ctx, errors):
      self.add_to_inputs(w, e)

  def context_pairs(self, centre, ctx, base):
    for w, slot in ctx:
      outs = self.target_outputs(centre, base, slot * self.k.num_ns)
      self.add_to_inputs(w, self.predict_in_turn(self.input_vector(w), outs))

  def cbow(self, centre, ctx, base):
    rows = [r for w in ctx for r in self.input_rows(w)]
    h = sum(self.t[t][i] for t, i in rows)
    if self.k.cbow != "sum":
      h = h / len(rows)
    outs = self.target_outputs(centre, base, 0)
    if self.k.per_pair:  # word2vec.c's CBOW: each output row updated as it goes.
      errors = [self.predict_in_turn(h, outs)]
    else:
      errors, _ = self.predict([h], outs)
    scale = 1.0 if self.k.cbow == "mean" else 1.0 / len(ctx)
    for w in ctx:
      self.add_to_inputs(w, scale * errors[0])

  def centre_window(self, centre, ctx, base):
    words = [w for w, _ in ctx]
    draws = [negative(base, k, self.l.noise.prob, self.l.noise.alias)
             for k in range(self.k.window_draws)]
    each = self.k.num_ns / self.k.window_draws
    outs = [("output", w, 1.0, 1.0) for w in words]
    outs += [("output", t, 0.0, each * sum(w != t for w in words)) for t in draws]
    errors, logits = self.predict([self.input_vector(centre)], outs, score=False)
    f = logits[0]
    for j, w in enumerate(words):
      valid = [k for k, t in enumerate(draws) if t != w]
      self.metrics[0] += softplus(-f[j]) + sum(each * softplus(f[len(words) + k]) for k in valid)
      self.metrics[1] += f[j] > max((f[len(words) + k] for k in valid), default=-math.inf)
      self.metrics[2] += 1
    self.add_to_inputs(centre, errors[0])

  def centre_pairs(self, centre, ctx, base):
    for w, slot in ctx:
      outs = self.target_outputs(w, base, slot * self.k.num_ns, redraw=True)
      self.add_to_inputs(centre, self.predict_in_turn(self.input_vector(centre), outs))
