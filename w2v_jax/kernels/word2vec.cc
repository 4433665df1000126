// The word2vec family's update as one fused loop per window, called from a jitted JAX program
// through XLA's FFI (w2v_jax/fused.py binds it; w2v_jax/native.py compiles it).
//
// One call trains one step: a batch of whole sentences of token ids (`tokens` [N], -1 between
// sentences and as padding). Per sentence, as word2vec.c does: frequency subsampling, then for
// each kept centre a dynamic window (radius uniform in [1, window]) inside the sentence,
// negatives drawn from the unigram^0.75 alias table and the centre's Huffman path, and the
// update applied to the tables in place (they are aliased to the outputs). Every random draw
// comes from a counter-based generator keyed by (key, step, token position, stream, draw), so a
// step's draws do not depend on threads or on what ran before it: at one thread a run is a pure
// function of its seed, and resumes bit-exactly from any step.
//
// Update rules (tests/test_fused.py holds a NumPy loop of each):
//  - per window (`per_pair` false; HogBatch): every gradient of a window is computed from the
//    tables as they were before that window, then applied; a window alone is the generic step's
//    SGD update of that window.
//  - per pair (`per_pair` true): the loops of word2vec.c and fastText, literally: each (input,
//    output) pair in turn, and within it each output row updated as it goes (its logit from the
//    row as the outputs before it left it; the input's error gets g * row before the row's own
//    update), the input rows updated at the end of the pair. Skip-gram with word2vec.c's roles
//    (per context word: hierarchical softmax nodes, then the centre and that pair's negatives,
//    one equal to the centre skipped), with fastText's (the centre as input; a negative equal to
//    the context redrawn), and CBOW as word2vec.c's (one hidden vector per window, its outputs
//    in turn).
// Windows are split over XLA's intra-op thread pool, lock-free (hogwild), as word2vec.c's threads
// and gensim's workers share their tables.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// ---- Counter-based random numbers (splitmix64's finaliser) ------------------------------------

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;
// Streams: what a draw is for. Each token position has its own generator per stream.
constexpr uint64_t kSubsample = 1, kRadius = 2, kNegative = 3, kRedraw = 4;
// fastText redraws a negative equal to its target until it differs; after this many draws (all
// the target: a noise distribution of that word alone) the negative is left out instead.
constexpr uint64_t kMaxDraws = 64;

inline uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The generator of one (step, token position); Draw(stream, i) is its i-th number of `stream`.
struct Counter {
  uint64_t base;
  Counter(uint64_t key, uint64_t step, uint64_t position)
      : base(Mix(key ^ Mix((step << 32 | position) + kGolden))) {}
  uint64_t Draw(uint64_t stream, uint64_t i) const { return Mix(base + (stream << 32 | i) * kGolden); }
};

// A uniform float in [0, 1) from 24 bits.
inline float Unit24(uint64_t bits) { return static_cast<float>(bits & 0xFFFFFF) * (1.0f / 16777216.0f); }

// ---- Arithmetic over one row (D floats) and over a prediction's logits -----------------------

// Sixteen floats (one AVX-512 register; two or four on narrower machines). Explicit vectors keep
// each row's sums in registers: GCC's `omp simd` reduction ended in sixteen dependent scalar adds.
typedef float V16 __attribute__((vector_size(64)));
typedef float V8 __attribute__((vector_size(32)));
typedef float V4 __attribute__((vector_size(16)));

inline V16 Load(const float* p) { V16 v; std::memcpy(&v, p, sizeof v); return v; }
inline void Store(float* p, V16 v) { std::memcpy(p, &v, sizeof v); }

inline float Sum(V16 v) {
  V8 lo, hi;
  std::memcpy(&lo, &v, sizeof lo);
  std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof lo, sizeof hi);
  const V8 s8 = lo + hi;
  V4 a, b;
  std::memcpy(&a, &s8, sizeof a);
  std::memcpy(&b, reinterpret_cast<const char*>(&s8) + sizeof a, sizeof b);
  const V4 s4 = a + b;
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

// Arithmetic over rows of D floats. With D known at compile time (the dimensions
// `Work::Run` instantiates) every loop below unrolls into straight-line vector code.
template <int kD>
class Rows {
 public:
  explicit Rows(int64_t dim) : dim_(dim) {}
  int64_t size() const { return kD > 0 ? kD : dim_; }

  float Dot(const float* a, const float* b) const {
    const int64_t n = size();
    V16 s0 = {}, s1 = {}, s2 = {}, s3 = {};
    int64_t d = 0;
    for (; d + 64 <= n; d += 64) {
      s0 += Load(a + d) * Load(b + d);
      s1 += Load(a + d + 16) * Load(b + d + 16);
      s2 += Load(a + d + 32) * Load(b + d + 32);
      s3 += Load(a + d + 48) * Load(b + d + 48);
    }
    for (; d + 16 <= n; d += 16) s0 += Load(a + d) * Load(b + d);
    float s = Sum((s0 + s1) + (s2 + s3));
    for (; d < n; ++d) s += a[d] * b[d];
    return s;
  }

  // y (+)= sum_j c[j] * x[j], four 16-float blocks of y in registers at a time.
  void Combine(float* y, const float* const* x, const float* c, int64_t k, bool add) const {
    const int64_t n = size();
    int64_t d = 0;
    for (; d + 64 <= n; d += 64) {
      V16 a0 = {}, a1 = {}, a2 = {}, a3 = {};
      if (add) a0 = Load(y + d), a1 = Load(y + d + 16), a2 = Load(y + d + 32), a3 = Load(y + d + 48);
      for (int64_t j = 0; j < k; ++j) {
        const float* r = x[j] + d;
        a0 += c[j] * Load(r), a1 += c[j] * Load(r + 16), a2 += c[j] * Load(r + 32), a3 += c[j] * Load(r + 48);
      }
      Store(y + d, a0), Store(y + d + 16, a1), Store(y + d + 32, a2), Store(y + d + 48, a3);
    }
    for (; d + 16 <= n; d += 16) {
      V16 a = {};
      if (add) a = Load(y + d);
      for (int64_t j = 0; j < k; ++j) a += c[j] * Load(x[j] + d);
      Store(y + d, a);
    }
    for (; d < n; ++d) {
      float a = add ? y[d] : 0.f;
      for (int64_t j = 0; j < k; ++j) a += c[j] * x[j][d];
      y[d] = a;
    }
  }

  // y += g * x
  void Axpy(float g, const float* x, float* y) const {
    const int64_t n = size();
    int64_t d = 0;
    for (; d + 16 <= n; d += 16) Store(y + d, Load(y + d) + g * Load(x + d));
    for (; d < n; ++d) y[d] += g * x[d];
  }

 private:
  int64_t dim_;
};

// e^x for x <= 0 (Cephes' expf: relative error < 2e-7; below -87 it gives e^-87). Written
// without calls so that a loop over a prediction's logits vectorises.
inline float ExpNonPositive(float x) {
  x = std::max(x, -87.f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return e * scale;
}

// log(1 + t) for t in [0, 1]: 2 atanh(t / (2 + t)), to u^11 (absolute error < 2e-7).
inline float Log1pUnit(float t) {
  const float u = t / (2.f + t), u2 = u * u;
  return 2.f * u * (1.f + u2 * (1.f / 3 + u2 * (1.f / 5 + u2 * (1.f / 7 + u2 * (1.f / 9 + u2 / 11)))));
}

// word2vec.c's and gensim's MAX_EXP: outside [-6, 6] their sigmoid table has no entry, and
// gensim (and word2vec.c's hierarchical softmax) skip that output's update.
constexpr float kMaxExp = 6.f;

// For logits f with labels y (1 or 0): grad = (y - sigmoid(f)) * scale, the SGD step's factor
// (0 where `skip_saturated` and |f| >= kMaxExp), and loss = -log sigmoid(f) (y = 1) or
// -log sigmoid(-f) (y = 0), from one exponential.
inline void Logistic(const float* f, const float* y, const float* scale, float* grad, float* loss,
                     int64_t n, bool skip_saturated) {
  for (int64_t j = 0; j < n; ++j) {
    const float t = ExpNonPositive(-std::fabs(f[j]));
    const float inverse = 1.f / (1.f + t);
    const float sigmoid = f[j] >= 0.f ? inverse : t * inverse;
    const bool skip = skip_saturated && std::fabs(f[j]) >= kMaxExp;
    grad[j] = skip ? 0.f : (y[j] - sigmoid) * scale[j];
    loss[j] = std::max(y[j] > 0.5f ? -f[j] : f[j], 0.f) + Log1pUnit(t);
  }
}

// ---- Settings and buffers of one call ---------------------------------------------------------

// The rule's settings: the call's attributes, decoded by name (fused.py's `_settings` names them;
// their order there does not matter). A setting is added here, in the decoding list below in the
// struct's order, and in `_settings`.
struct Settings {
  bool cbow;
  bool centre_input;  // Skip-gram with fastText's roles: the centre predicts its contexts.
  bool per_pair;
  int64_t num_ns;        // Negatives per prediction (0: none).
  int64_t window_draws;  // With the centre as input, per window: negatives shared by its pairs.
  bool hs;
  int64_t cbow_mode;  // 0 mean (error unscaled), 1 sum (error / count), 2 koan (mean, error / count).
  int64_t window;
  bool dynamic_window;
  bool subsample;
  bool subwords;
  int64_t threads;  // 1: deterministic; more: hogwild.
  bool skip_saturated;  // No update from an output whose |logit| >= 6 (gensim's rule).
};

}  // namespace

// Decoding by name, in the struct's order; the binding of the handler (`Step`'s parameters,
// below) reads its settings through it, and its thread pool through the context.
XLA_FFI_REGISTER_STRUCT_ATTR_DECODING(
    Settings, xla::ffi::StructMember<bool>("cbow"), xla::ffi::StructMember<bool>("centre_input"),
    xla::ffi::StructMember<bool>("per_pair"), xla::ffi::StructMember<int64_t>("num_ns"),
    xla::ffi::StructMember<int64_t>("window_draws"), xla::ffi::StructMember<bool>("hs"),
    xla::ffi::StructMember<int64_t>("cbow_mode"), xla::ffi::StructMember<int64_t>("window"),
    xla::ffi::StructMember<bool>("dynamic_window"), xla::ffi::StructMember<bool>("subsample"),
    xla::ffi::StructMember<bool>("subwords"), xla::ffi::StructMember<int64_t>("threads"),
    xla::ffi::StructMember<bool>("skip_saturated"));

template <>
struct xla::ffi::CtxBinding<xla::ffi::ThreadPool> {
  using Ctx = xla::ffi::ThreadPool;
};

namespace {

struct Tables {
  float* input;   // [V, D]: syn0, the input rows.
  float* output;  // [V, D]: syn1neg (negative sampling).
  float* tree;    // [V - 1, D]: syn1 (hierarchical softmax's inner nodes).
  float* ngrams;  // [bucket, D]: fastText's n-gram rows.
  int64_t dim;
};

struct Lookups {
  int64_t vocab;
  const float* keep;        // [V] keep probability (subsampling).
  const float* alias_prob;  // [V] alias table of the noise distribution.
  const int32_t* alias;     // [V]
  const int32_t* points;    // [V, L] Huffman path: inner-node rows, root first.
  const int8_t* codes;      // [V, L] branch taken at each.
  const int32_t* lengths;   // [V]
  int64_t path_width;       // L
  const int32_t* sub_offsets;  // [V + 1]: word w's n-gram rows are sub_ids[off[w]:off[w + 1]].
  const int32_t* sub_ids;
};

struct Metrics {
  double loss = 0, correct = 0, count = 0, pairs = 0;
  void Add(const Metrics& m) { loss += m.loss; correct += m.correct; count += m.count; pairs += m.pairs; }
};

// One window's outputs: the hierarchical-softmax nodes first (`nodes` of them), then the
// negative-sampling rows (the positive, then negatives), each with its label and its scale: the
// step's learning rate times the row's loss weight.
struct Outputs {
  float lr = 1.f;
  std::vector<float*> rows;
  std::vector<float> labels, scales;
  int64_t nodes = 0;

  int64_t size() const { return static_cast<int64_t>(rows.size()); }
  void Clear() { rows.clear(); labels.clear(); scales.clear(); nodes = 0; }
  void Add(float* row, float label, float weight = 1.f) {
    rows.push_back(row);
    labels.push_back(label);
    scales.push_back(weight * lr);
  }
};

// ---- One thread's loop over windows -----------------------------------------------------------

template <int kD>
class Worker {
 public:
  Worker(const Settings& s, const Tables& t, const Lookups& l, uint64_t key, uint64_t step,
         float lr)
      : s_(s), t_(t), l_(l), key_(key), step_(step), r_(t.dim), D_(r_.size()) {
    out_.lr = lr;
    const int64_t slots = 2 * s.window;
    const int64_t outputs = std::max<int64_t>(1 + s.num_ns, slots + s.window_draws) + l.path_width;
    hidden_.resize((slots + 1) * D_);
    errors_.resize((slots + 1) * D_);
    column_.resize(slots + 1);
    logits_.resize((slots + 1) * outputs);
    grads_.resize(logits_.size());
    losses_.resize(logits_.size());
  }

  // The sentences of tokens[begin:end) (whole ones: -1 separates them).
  void Run(const int32_t* tokens, int64_t begin, int64_t end, Metrics* m) {
    m_ = m;
    int64_t i = begin;
    while (i < end) {
      while (i < end && tokens[i] < 0) ++i;
      int64_t j = i;
      while (j < end && tokens[j] >= 0) ++j;
      if (j > i) Sentence(tokens, i, j);
      i = j;
    }
  }

 private:
  // word2vec.c's order: subsample the sentence, then every kept word is a centre in turn.
  void Sentence(const int32_t* tokens, int64_t begin, int64_t end) {
    words_.clear();
    positions_.clear();
    for (int64_t p = begin; p < end; ++p) {
      const int32_t w = tokens[p];
      if (s_.subsample && l_.keep[w] < 1.f &&
          !(Unit24(Counter(key_, step_, p).Draw(kSubsample, 0)) < l_.keep[w]))
        continue;
      words_.push_back(w);
      positions_.push_back(p);
    }
    const int64_t n = static_cast<int64_t>(words_.size());
    for (int64_t c = 0; c < n; ++c) {
      const Counter rng(key_, step_, positions_[c]);
      int64_t radius = s_.window;
      if (s_.dynamic_window) radius -= static_cast<int64_t>((rng.Draw(kRadius, 0) >> 32) % s_.window);
      contexts_.clear();
      slots_.clear();
      for (int64_t a = std::max<int64_t>(0, c - radius); a <= std::min(n - 1, c + radius); ++a) {
        if (a == c) continue;
        contexts_.push_back(words_[a]);
        // The slot among the window's 2W, numbered as w2v_jax.pairs.window_examples does.
        slots_.push_back(a < c ? a - c + s_.window : a - c + s_.window - 1);
      }
      if (contexts_.empty()) continue;
      m_->pairs += static_cast<double>(contexts_.size());
      const int32_t centre = words_[c];
      if (s_.cbow) {
        Cbow(centre, rng);
      } else if (s_.per_pair) {
        Pairs(centre, rng);
      } else {
        s_.centre_input ? CentreWindow(centre, rng) : ContextWindow(centre, rng);
      }
    }
  }

  // Draw i of the window's negatives (of `stream`): from the alias table, column and coin from
  // one number.
  int32_t Negative(const Counter& rng, uint64_t i, uint64_t stream = kNegative) const {
    const uint64_t x = rng.Draw(stream, i);
    const int32_t column = static_cast<int32_t>(((x >> 32) * static_cast<uint64_t>(l_.vocab)) >> 32);
    return Unit24(x) < l_.alias_prob[column] ? column : l_.alias[column];
  }

  // ---- Inputs: a word's own row, or with subwords the mean of it and its n-gram rows ----

  int64_t Ngrams(int32_t w) const { return s_.subwords ? l_.sub_offsets[w + 1] - l_.sub_offsets[w] : 0; }
  float* NgramRow(int32_t w, int64_t k) const {
    return t_.ngrams + static_cast<int64_t>(l_.sub_ids[l_.sub_offsets[w] + k]) * D_;
  }
  float* InputRow(int32_t w) const { return t_.input + static_cast<int64_t>(w) * D_; }
  float* OutputRow(int32_t w) const { return t_.output + static_cast<int64_t>(w) * D_; }

  // Appends word w's input rows (its own and its n-grams') to `rows_`.
  void AddInputRows(int32_t w) {
    rows_.push_back(InputRow(w));
    const int64_t n = Ngrams(w);
    for (int64_t k = 0; k < n; ++k) rows_.push_back(NgramRow(w, k));
  }

  // The mean (or with `sum`, the sum) of the rows in `rows_`, made in `out`.
  void Average(float* out, bool sum = false) {
    const int64_t n = static_cast<int64_t>(rows_.size());
    coefs_.assign(n, sum ? 1.f : 1.f / static_cast<float>(n));
    r_.Combine(out, rows_.data(), coefs_.data(), n, false);
  }

  // Word w's input vector: its row, or (subwords) the mean of its rows, made in `scratch`.
  const float* InputVector(int32_t w, float* scratch) {
    if (!s_.subwords) return InputRow(w);
    rows_.clear();
    AddInputRows(w);
    Average(scratch);
    return scratch;
  }

  // Every input row of word w += g * delta (the error of a mean goes unscaled to each of its
  // rows, as word2vec.c's CBOW and fastText apply it).
  void UpdateInput(int32_t w, float g, const float* delta) {
    r_.Axpy(g, delta, InputRow(w));
    const int64_t n = Ngrams(w);
    for (int64_t k = 0; k < n; ++k) r_.Axpy(g, delta, NgramRow(w, k));
  }

  // ---- Outputs ----

  // The target's path (hierarchical softmax), then the target and the negatives of draws
  // [first, first + num_ns) (negative sampling). A draw equal to the target is skipped, as
  // word2vec.c does, or with `redraw` drawn again, as fastText does: draw i's a-th retry
  // (1 <= a < kMaxDraws) is number i * kMaxDraws + a of the kRedraw stream, so the negatives stay
  // a function of (key, step, position) alone.
  void TargetOutputs(int32_t target, const Counter& rng, uint64_t first, bool redraw = false) {
    out_.Clear();
    if (s_.hs) {
      const int64_t length = l_.lengths[target];
      for (int64_t d = 0; d < length; ++d) {
        const int64_t at = static_cast<int64_t>(target) * l_.path_width + d;
        out_.Add(t_.tree + static_cast<int64_t>(l_.points[at]) * D_, 1.f - l_.codes[at]);
      }
      out_.nodes = length;
    }
    if (s_.num_ns) {
      out_.Add(OutputRow(target), 1.f);
      for (int64_t k = 0; k < s_.num_ns; ++k) {
        const uint64_t i = first + k;
        int32_t t = Negative(rng, i);
        for (uint64_t a = 1; redraw && t == target && a < kMaxDraws; ++a)
          t = Negative(rng, i * kMaxDraws + a, kRedraw);
        if (t != target) out_.Add(OutputRow(t), 0.f);
      }
    }
  }

  // ---- A prediction: inputs h[0:n) against every output, from the rows as they are now ----

  // Logits, the SGD factors (label - sigmoid) * lr * weight and the losses, [n, outputs].
  void Forward(int64_t n, const float* const* h) {
    const int64_t outs = out_.size();
    for (int64_t i = 0; i < n; ++i) {
      float* f = logits_.data() + i * outs;
      for (int64_t o = 0; o < outs; ++o) f[o] = r_.Dot(h[i], out_.rows[o]);
      Logistic(f, out_.labels.data(), out_.scales.data(), grads_.data() + i * outs,
               losses_.data() + i * outs, outs, s_.skip_saturated);
    }
  }

  // Input i's loss and correctness. Negative sampling: correct when the positive scores at
  // least every negative (it ranks first); hierarchical softmax alone: the share of the path's
  // branches taken the right way.
  void Score(int64_t i) {
    const int64_t outs = out_.size();
    const float* f = logits_.data() + i * outs;
    const float* loss = losses_.data() + i * outs;
    double total = 0;
    for (int64_t o = 0; o < outs; ++o) total += loss[o];
    m_->loss += total;
    if (outs > out_.nodes) {
      float best = -INFINITY;
      for (int64_t o = out_.nodes + 1; o < outs; ++o) best = std::max(best, f[o]);
      m_->correct += f[out_.nodes] >= best;
    } else {
      int64_t right = 0;
      for (int64_t o = 0; o < out_.nodes; ++o) right += (out_.labels[o] > 0.5f) == (f[o] > 0.f);
      m_->correct += static_cast<double>(right) / static_cast<double>(std::max<int64_t>(out_.nodes, 1));
    }
    m_->count += 1;
  }

  // The updates of `Forward`: errors[i] = sum_o grad[i, o] * row_o (the rows as they were),
  // then row_o += sum_i grad[i, o] * h[i].
  void Backward(int64_t n, const float* const* h, float* errors) {
    const int64_t outs = out_.size();
    const float* const* rows = out_.rows.data();
    for (int64_t i = 0; i < n; ++i) r_.Combine(errors + i * D_, rows, &grads_[i * outs], outs, false);
    for (int64_t o = 0; o < outs; ++o) {
      for (int64_t i = 0; i < n; ++i) column_[i] = grads_[i * outs + o];
      r_.Combine(out_.rows[o], h, column_.data(), n, true);
    }
  }

  // Forward, every input's loss and correctness, Backward into errors_.
  void Predict(int64_t n, const float* const* h) {
    Forward(n, h);
    for (int64_t i = 0; i < n; ++i) Score(i);
    Backward(n, h, errors_.data());
  }

  // Input h against each output in turn, as word2vec.c's and fastText's loops run: output o's
  // logit from its row as the outputs before it left it; error += g * row (the row before its
  // own update), then row += g * h. Scores the prediction from those logits.
  void PredictInTurn(const float* h, float* error) {
    const int64_t outs = out_.size();
    float* f = logits_.data();
    float* g = grads_.data();
    float* loss = losses_.data();
    std::fill(error, error + D_, 0.f);
    for (int64_t o = 0; o < outs; ++o) {
      float* row = out_.rows[o];
      f[o] = r_.Dot(h, row);
      Logistic(f + o, &out_.labels[o], &out_.scales[o], g + o, loss + o, 1, s_.skip_saturated);
      r_.Axpy(g[o], row, error);
      r_.Axpy(g[o], h, row);
    }
    Score(0);
  }

  // ---- The rules ----

  // Skip-gram, word2vec.c's roles, per window: every context's input vector against the
  // centre's outputs, all from the rows as they were before the window.
  void ContextWindow(int32_t centre, const Counter& rng) {
    TargetOutputs(centre, rng, 0);
    const int64_t n = static_cast<int64_t>(contexts_.size());
    inputs_.resize(n);
    for (int64_t i = 0; i < n; ++i) inputs_[i] = InputVector(contexts_[i], hidden_.data() + i * D_);
    Predict(n, inputs_.data());
    for (int64_t i = 0; i < n; ++i) UpdateInput(contexts_[i], 1.f, errors_.data() + i * D_);
  }

  // Skip-gram per pair, each pair in turn seeing the updates of the one before and each output
  // the updates of the outputs before it: word2vec.c's loop (the context word's input vector
  // against the centre's path, the centre and that pair's own negatives, draws
  // slot * num_ns + k, one equal to the centre skipped) or, with the centre as input,
  // fastText's (the centre's input vector, made again for every pair, against the context word
  // and that pair's own negatives, one equal to the context redrawn).
  void Pairs(int32_t centre, const Counter& rng) {
    for (size_t j = 0; j < contexts_.size(); ++j) {
      const int32_t input = s_.centre_input ? centre : contexts_[j];
      const int32_t target = s_.centre_input ? contexts_[j] : centre;
      TargetOutputs(target, rng, static_cast<uint64_t>(slots_[j]) * s_.num_ns, s_.centre_input);
      const float* h = InputVector(input, hidden_.data());
      PredictInTurn(h, errors_.data());
      UpdateInput(input, 1.f, errors_.data());
    }
  }

  // CBOW: one prediction from the context words' input rows (their mean, or sum), against the
  // centre's outputs; every context row gets the error (divided by the count for sum and koan).
  // Per window, every output's gradient from the rows before the window; per pair, word2vec.c's
  // CBOW: each output row updated as it goes.
  void Cbow(int32_t centre, const Counter& rng) {
    float* h = hidden_.data();
    rows_.clear();
    for (int32_t w : contexts_) AddInputRows(w);
    Average(h, s_.cbow_mode == 1);
    TargetOutputs(centre, rng, 0);
    const float* hidden = h;
    if (s_.per_pair) {
      PredictInTurn(hidden, errors_.data());
    } else {
      Predict(1, &hidden);
    }
    const float scale = s_.cbow_mode == 0 ? 1.f : 1.f / static_cast<float>(contexts_.size());
    for (int32_t w : contexts_) UpdateInput(w, scale, errors_.data());
  }

  // Skip-gram with the centre as input (fastText's roles), per window: one input vector against
  // every context word and `window_draws` negatives shared by the window's pairs, each weighing
  // num_ns / window_draws for every pair whose context it is not.
  void CentreWindow(int32_t centre, const Counter& rng) {
    const float* h = InputVector(centre, hidden_.data());
    const int64_t n = static_cast<int64_t>(contexts_.size());
    out_.Clear();
    for (int32_t c : contexts_) out_.Add(OutputRow(c), 1.f);
    negatives_.clear();
    const float each = static_cast<float>(s_.num_ns) / static_cast<float>(s_.window_draws);
    for (int64_t k = 0; k < s_.window_draws; ++k) {
      const int32_t t = Negative(rng, k);
      negatives_.push_back(t);
      int64_t pairs = 0;
      for (int32_t c : contexts_) pairs += c != t;
      out_.Add(OutputRow(t), 0.f, each * static_cast<float>(pairs));
    }
    Forward(1, &h);
    // Each pair's loss: its context against the negatives that are not its context.
    for (int64_t j = 0; j < n; ++j) {
      double loss = losses_[j];
      float best = -INFINITY;
      for (int64_t k = 0; k < s_.window_draws; ++k) {
        if (negatives_[k] == contexts_[j]) continue;
        loss += each * losses_[n + k];
        best = std::max(best, logits_[n + k]);
      }
      m_->loss += loss;
      m_->correct += logits_[j] > best;
      m_->count += 1;
    }
    Backward(1, &h, errors_.data());
    UpdateInput(centre, 1.f, errors_.data());
  }

  const Settings& s_;
  const Tables& t_;
  const Lookups& l_;
  const uint64_t key_, step_;
  const Rows<kD> r_;
  const int64_t D_;
  Metrics* m_ = nullptr;
  std::vector<int32_t> words_, contexts_, negatives_;
  std::vector<int64_t> positions_, slots_;
  std::vector<float> hidden_, errors_, column_, logits_, grads_, losses_, coefs_;
  std::vector<const float*> inputs_, rows_;
  Outputs out_;
};

// ---- Threads: chunks of whole sentences, claimed by whichever thread is free ------------------

// Shared by the caller and the tasks it schedules; a task that starts after every chunk is
// claimed finds nothing to do (it holds its own reference, so this outlives the call).
struct Work {
  Settings settings;
  Tables tables;
  Lookups lookups;
  uint64_t key, step;
  float lr;
  const int32_t* tokens;
  std::vector<int64_t> bounds;  // Chunk c is tokens[bounds[c]:bounds[c + 1]).
  std::vector<Metrics> metrics;  // Per chunk: summed in chunk order, whichever thread ran it.
  std::atomic<int64_t> next{0}, done{0};
  std::mutex mutex;
  std::condition_variable finished;

  int64_t chunks() const { return static_cast<int64_t>(bounds.size()) - 1; }

  // Trains chunks until none is left, with rows of `kD` floats (0: any).
  template <int kD>
  void Claim() {
    Worker<kD> worker(settings, tables, lookups, key, step, lr);
    for (int64_t c; (c = next.fetch_add(1)) < chunks();) {
      worker.Run(tokens, bounds[c], bounds[c + 1], &metrics[c]);
      if (done.fetch_add(1) + 1 == chunks()) {
        std::lock_guard<std::mutex> lock(mutex);
        finished.notify_all();
      }
    }
  }

  void Run() {
    switch (tables.dim) {  // The common sizes, compiled for their size; others at any.
      case 50: return Claim<50>();
      case 64: return Claim<64>();
      case 100: return Claim<100>();
      case 128: return Claim<128>();
      case 200: return Claim<200>();
      case 300: return Claim<300>();
      default: return Claim<0>();
    }
  }
};

// Cuts tokens[0:n) into about `pieces` chunks that end where a sentence ends.
std::vector<int64_t> ChunkBounds(const int32_t* tokens, int64_t n, int64_t pieces) {
  std::vector<int64_t> bounds{0};
  const int64_t target = std::max<int64_t>(1, n / std::max<int64_t>(pieces, 1));
  int64_t at = target;
  while (at < n) {
    while (at < n && tokens[at] >= 0) ++at;  // To the next separator.
    if (at >= n) break;
    bounds.push_back(at);
    at += target;
  }
  bounds.push_back(n);
  return bounds;
}

ffi::Error Check(bool ok, const std::string& message) {
  return ok ? ffi::Error::Success() : ffi::Error::InvalidArgument("w2v_jax word2vec kernel: " + message);
}

// One call: the tables (aliased to the first four results) trained on `tokens`. Its parameters
// are its binding (XLA_FFI_DEFINE_HANDLER below infers it): the buffers in fused.py's order
// (`apply`'s tables, then `_operands`), then the settings, decoded by name.
ffi::Error Step(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> input, ffi::Buffer<ffi::F32> output,
                ffi::Buffer<ffi::F32> tree, ffi::Buffer<ffi::F32> ngrams,
                ffi::Buffer<ffi::S32> tokens, ffi::Buffer<ffi::F32> keep,
                ffi::Buffer<ffi::F32> alias_prob, ffi::Buffer<ffi::S32> alias,
                ffi::Buffer<ffi::S32> points, ffi::Buffer<ffi::S8> codes,
                ffi::Buffer<ffi::S32> lengths, ffi::Buffer<ffi::S32> sub_offsets,
                ffi::Buffer<ffi::S32> sub_ids, ffi::Buffer<ffi::F32> lr, ffi::Buffer<ffi::U32> key,
                ffi::Buffer<ffi::S32> step, ffi::ResultBuffer<ffi::F32> input_out,
                ffi::ResultBuffer<ffi::F32> output_out, ffi::ResultBuffer<ffi::F32> tree_out,
                ffi::ResultBuffer<ffi::F32> ngrams_out,
                ffi::ResultBuffer<ffi::F32> metrics,  // loss, correct, count, pairs
                Settings settings) {
  // Tables are aliased to their outputs; where XLA could not donate one it gives a fresh buffer.
  const std::pair<ffi::Buffer<ffi::F32>*, ffi::ResultBuffer<ffi::F32>*> tables[] = {
      {&input, &input_out}, {&output, &output_out}, {&tree, &tree_out}, {&ngrams, &ngrams_out}};
  for (auto [in, out] : tables) {
    if ((*out)->untyped_data() != in->untyped_data())
      std::memcpy((*out)->untyped_data(), in->untyped_data(), in->size_bytes());
  }
  const Settings& s = settings;
  const int64_t vocab = input.dimensions()[0], dim = input.dimensions()[1];
  const int64_t path_width = points.dimensions().size() == 2 ? points.dimensions()[1] : 0;
  const int64_t n = static_cast<int64_t>(tokens.element_count());
  // The shapes fused.apply checks as it traces (there, with the field's name): here against a
  // call from elsewhere. The values the lookups index with are checked on the host, once
  // (fused.check_lookups); the tokens, new every call, here.
  for (auto e : {Check(s.window >= 1, "window must be >= 1"),
                 Check(s.num_ns >= 0 && s.window_draws >= 0, "negative counts must be >= 0"),
                 Check(!s.num_ns || (output.dimensions()[0] == vocab && output.dimensions()[1] == dim),
                       "output table must be [V, D]"),
                 Check(!s.hs || (tree.dimensions()[0] == vocab - 1 && tree.dimensions()[1] == dim &&
                                 static_cast<int64_t>(lengths.element_count()) == vocab &&
                                 static_cast<int64_t>(points.element_count()) == vocab * path_width &&
                                 codes.element_count() == points.element_count()),
                       "tree table must be [V - 1, D] with paths [V, L]"),
                 Check(!s.subwords || (ngrams.dimensions()[1] == dim &&
                                       static_cast<int64_t>(sub_offsets.element_count()) == vocab + 1),
                       "subwords need an n-gram table [bucket, D] and offsets [V + 1]"),
                 Check(!(s.num_ns || s.window_draws) ||
                           (static_cast<int64_t>(alias_prob.element_count()) == vocab &&
                            static_cast<int64_t>(alias.element_count()) == vocab),
                       "negative sampling needs an alias table of V entries"),
                 Check(!s.subsample || static_cast<int64_t>(keep.element_count()) == vocab,
                       "subsampling needs V keep probabilities"),
                 Check(key.element_count() == 2, "key must be uint32[2]")}) {
    if (!e.success()) return e;
  }
  const int32_t* ids = tokens.typed_data();
  for (int64_t i = 0; i < n; ++i) {  // -1 ends a sentence; any other id indexes the tables.
    if (ids[i] < -1 || ids[i] >= vocab) {
      const std::string id = "token id " + std::to_string(ids[i]);
      return Check(false, ids[i] < -1 ? id + " < -1 (-1 ends a sentence)"
                                      : id + " >= V = " + std::to_string(vocab));
    }
  }

  auto work = std::make_shared<Work>();
  work->settings = s;
  Tables& t = work->tables;
  t.input = input_out->typed_data();
  t.output = output_out->typed_data();
  t.tree = tree_out->typed_data();
  t.ngrams = ngrams_out->typed_data();
  t.dim = dim;
  Lookups& l = work->lookups;
  l.vocab = vocab;
  l.keep = keep.typed_data();
  l.alias_prob = alias_prob.typed_data();
  l.alias = alias.typed_data();
  l.points = points.typed_data();
  l.codes = codes.typed_data();
  l.lengths = lengths.typed_data();
  l.path_width = path_width;
  l.sub_offsets = sub_offsets.typed_data();
  l.sub_ids = sub_ids.typed_data();
  const uint32_t* k = key.typed_data();
  work->key = static_cast<uint64_t>(k[0]) << 32 | k[1];
  work->step = static_cast<uint32_t>(step.typed_data()[0]);
  work->lr = lr.typed_data()[0];
  work->tokens = ids;
  const int64_t threads = std::max<int64_t>(1, s.threads);
  // At one thread, one chunk: the windows in order. Else several per thread, for balance.
  work->bounds = ChunkBounds(ids, n, threads == 1 ? 1 : 8 * threads);
  work->metrics.assign(work->chunks(), Metrics());
  const int64_t helpers = std::min<int64_t>(threads, work->chunks()) - 1;
  for (int64_t h = 0; h < helpers; ++h) pool.Schedule([work] { work->Run(); });
  work->Run();
  {
    std::unique_lock<std::mutex> lock(work->mutex);
    work->finished.wait(lock, [&] { return work->done.load() == work->chunks(); });
  }
  Metrics total;
  for (const Metrics& m : work->metrics) total.Add(m);
  float* out = metrics->typed_data();
  out[0] = static_cast<float>(total.loss);
  out[1] = static_cast<float>(total.correct);
  out[2] = static_cast<float>(total.count);
  out[3] = static_cast<float>(total.pairs);
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(W2vJaxWord2VecStep, Step);
