"""fastText subwords: n-grams and bucket ids, known answers and gensim's own functions."""

import numpy as np
import pytest

from w2v_jax import fasttext_format, losses, objectives, subwords, word2vec_format


def test_fnv1a_matches_the_standard_on_ascii_and_sign_extends_other_bytes():
  # Published FNV-1a (32-bit) test vectors: "" and "a" and "foobar".
  assert subwords.fnv1a(b"") == 0x811C9DC5
  assert subwords.fnv1a(b"a") == 0xE40C292C
  assert subwords.fnv1a(b"foobar") == 0xBF9CF968
  # By hand, one byte >= 0x80: h = (2166136261 ^ 0xFFFFFFE9) * 16777619 mod 2**32.
  assert subwords.fnv1a(b"\xe9") == ((2166136261 ^ 0xFFFFFFE9) * 16777619) % 2**32
  standard = ((2166136261 ^ 0xE9) * 16777619) % 2**32
  assert subwords.fnv1a(b"\xe9") != standard  # fastText's, not the textbook FNV-1a.


def test_ngrams_in_fasttexts_order():
  assert subwords.ngrams("where", 3, 3) == ["<wh", "whe", "her", "ere", "re>"]
  assert subwords.ngrams("ab", 3, 6) == ["<ab", "<ab>", "ab>"]  # The whole "<ab>" too.
  assert subwords.ngrams("ab", 1, 2) == ["<a", "a", "ab", "b", "b>"]  # Never "<" or ">" alone.
  assert subwords.ngrams("né", 3, 3) == ["<né", "né>"]  # Characters, not bytes.


WORDS = ["where", "ab", "a", "né", "été", "日本語", "x" * 12, "</s>", "naïveté"]


@pytest.mark.parametrize("minn,maxn", [(3, 6), (1, 2), (2, 4)])
def test_vectorized_spans_and_hashes_equal_the_definition(minn, maxn):
  spans = subwords.ngram_spans(WORDS, minn, maxn)
  found = [spans.buffer[s:e].tobytes().decode("utf-8") for s, e in zip(spans.start, spans.end)]
  expected = [g for w in WORDS for g in subwords.ngrams(w, minn, maxn)]
  assert found == expected
  assert list(spans.word) == [i for i, w in enumerate(WORDS)
                              for _ in subwords.ngrams(w, minn, maxn)]
  hashes = subwords.hash_spans(spans)
  assert hashes.tolist() == [subwords.fnv1a(g.encode("utf-8")) for g in expected]


def test_subwords_table_compact_and_padded():
  table = subwords.subwords(WORDS, 3, 6, 1000)
  for i, word in enumerate(WORDS):
    want = [] if word == "</s>" else [subwords.fnv1a(g.encode()) % 1000
                                      for g in subwords.ngrams(word, 3, 6)]
    assert table.of(i).tolist() == want, word
  assert table.ids.dtype == np.int32 and table.offsets[-1] == len(table.ids)


def test_slots_ngrams_flat_per_replica_chunk():
  # Word 0 has n-grams 10, 11; word 1: 20; word 2: none; word 3: 30, 31, 32.
  table = subwords.Subwords(np.array([0, 2, 3, 3, 6]), np.array([10, 11, 20, 30, 31, 32]), 50)
  words = np.array([[[0, 3], [1, 0], [3, 2], [2, 1]]])  # [steps 1, N 4, S 2]
  live = np.array([[[1, 1], [1, 0], [0, 1], [1, 1]]], bool)
  ids, slots = table.of_slots(words, live, chunks=2)
  # Chunk 0 (columns 0-1): slots 0 (word 0), 1 (word 3), 2 (word 1); 3 is dead. 6 n-grams.
  # Chunk 1 (columns 2-3): slot 1 (word 2: none), 2 (word 2: none), 3 (word 1). 1 n-gram.
  assert ids.shape == slots.shape == (1, 2 * 64)
  assert ids[0, :7].tolist() == [10, 11, 30, 31, 32, 20, -1]
  assert slots[0, :6].tolist() == [0, 0, 1, 1, 1, 2]
  assert ids[0, 64:66].tolist() == [20, -1] and slots[0, 64] == 3
  assert (ids[0, 6:64] == -1).all() and (ids[0, 65:] == -1).all()
  assert (slots[0, 6:64] == 0).all() and (slots[0, 65:] == 0).all()
  one_chunk = table.of_slots(words, live)[0]
  assert one_chunk[0, :7].tolist() == [10, 11, 30, 31, 32, 20, 20]


def test_capacity_pads_at_most_an_eighth():
  assert [subwords.capacity(n) for n in (0, 64, 65, 129, 161, 1000, 2049, 65537)] == [
      64, 64, 72, 144, 176, 1024, 2304, 73728]
  for n in range(65, 5000):
    assert n <= subwords.capacity(n) <= 1.125 * n + 1


def test_bad_settings_are_one_line_errors():
  with pytest.raises(ValueError, match=r"--minn=4 --maxn=3"):
    subwords.subwords(WORDS, 4, 3, 10)
  with pytest.raises(ValueError, match=r"--bucket=0"):
    subwords.subwords(WORDS, 3, 6, 0)


def test_bucket_ids_equal_gensims():
  fasttext = pytest.importorskip("gensim.models.fasttext")
  words = WORDS[:7] + WORDS[8:] + ["über", "ĳssel", "🙂ok", "Ω"]
  table = subwords.subwords(words, 3, 6, 2_000_000)
  for i, word in enumerate(words):
    assert sorted(table.of(i).tolist()) == sorted(fasttext.ft_ngram_hashes(word, 3, 6, 2_000_000))


def _model(rng, words, bucket=997, dim=8):
  args = {"dim": dim, "ws": 5, "epoch": 5, "min_count": 1, "neg": 5, "word_ngrams": 1,
          "loss": 2, "model": 2, "bucket": bucket, "minn": 3, "maxn": 6, "lr_update_rate": 100,
          "t": 1e-4}
  word_rows = rng.normal(size=(len(words), dim)).astype(np.float32)
  ngram_rows = rng.normal(size=(bucket, dim)).astype(np.float32)
  model = fasttext_format.FastTextModel(args, list(words), np.arange(len(words), 0, -1) * 10, 12345,
                               word_rows, rng.normal(size=(len(words), dim)).astype(np.float32))
  return model, ngram_rows


VOCAB = ["</s>", "the", "king", "queen", "über", "naïveté", "日本"]


def test_vectors_are_means_of_word_and_ngram_rows_and_oov_of_ngram_rows():
  rng = np.random.default_rng(0)
  model, ngram_rows = _model(rng, VOCAB)
  vectors = subwords.SubwordVectors(tuple(VOCAB), model.input, ngram_rows, 3, 6)
  composed = vectors.vocabulary_vectors(chunk=3)
  for i, word in enumerate(VOCAB):
    ids = [subwords.fnv1a(g.encode()) % 997 for g in subwords.ngrams(word, 3, 6)]
    if word == "</s>":
      ids = []  # fastText gives the end-of-sentence token no n-grams.
    want = (model.input[i] + ngram_rows[ids].sum(axis=0)) / (1 + len(ids))
    np.testing.assert_allclose(composed[i], want, rtol=1e-6, atol=1e-6)
  oov = [subwords.fnv1a(g.encode()) % 997 for g in subwords.ngrams("kingly", 3, 6)]
  np.testing.assert_allclose(vectors.vector("kingly"), ngram_rows[oov].mean(axis=0), rtol=1e-6)
  # Summed in another order (reduceat, sum): equal to float32 rounding.
  np.testing.assert_allclose(vectors.vector("king"), composed[2], rtol=1e-6, atol=1e-7)
  assert subwords.SubwordVectors(tuple(VOCAB), model.input, ngram_rows, 4, 6).vector("a") is None


def test_fasttext_bin_round_trips(tmp_path):
  model, ngram_rows = _model(np.random.default_rng(1), VOCAB)
  path = str(tmp_path / "model.bin")
  fasttext_format.write(path, model, ngram_rows)
  back = fasttext_format.read(path)
  assert back.words == VOCAB and back.ntokens == 12345
  assert back.args == model.args
  np.testing.assert_array_equal(back.counts, model.counts)
  np.testing.assert_array_equal(back.input, np.concatenate([model.input, ngram_rows]))
  np.testing.assert_array_equal(back.output, model.output)


def test_bad_fasttext_bin_is_a_one_line_error(tmp_path):
  model, ngram_rows = _model(np.random.default_rng(2), VOCAB)
  good = tmp_path / "good.bin"
  fasttext_format.write(str(good), model, ngram_rows)
  data = good.read_bytes()
  (tmp_path / "magic.bin").write_bytes(b"\x00\x00\x00\x00" + data[4:])
  with pytest.raises(ValueError, match=r"magic.bin: not a fastText .bin file \(magic 0"):
    fasttext_format.read(str(tmp_path / "magic.bin"))
  for cut in (30, 100, len(data) - 10):
    (tmp_path / "cut.bin").write_bytes(data[:cut])
    with pytest.raises(ValueError, match=r"cut.bin: truncated"):
      fasttext_format.read(str(tmp_path / "cut.bin"))


def test_gensim_loads_the_bin_with_the_same_vectors_in_and_out_of_vocabulary(tmp_path):
  fasttext = pytest.importorskip("gensim.models.fasttext")
  model, ngram_rows = _model(np.random.default_rng(3), VOCAB)
  path = str(tmp_path / "model.bin")
  fasttext_format.write(path, model, ngram_rows)
  loaded = fasttext.load_facebook_model(path)
  ours = subwords.SubwordVectors(tuple(VOCAB), model.input, ngram_rows, 3, 6)
  composed = ours.vocabulary_vectors()
  for i, word in enumerate(VOCAB[1:], 1):
    np.testing.assert_allclose(loaded.wv[word], composed[i], rtol=1e-5, atol=1e-6)
  for word in ("kingly", "queens", "übermensch", "日本語"):
    assert word not in loaded.wv.key_to_index
    np.testing.assert_allclose(loaded.wv[word], ours.vector(word), rtol=1e-5, atol=1e-6)


def test_ngram_sums_gather_flat_rows_into_their_slots():
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel


  rows = jnp.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [0.0, 0.0]])  # The last is padding.
  ids, slots = jnp.array([7, 9, 4, -1]), jnp.array([0, 0, 2, 0])
  sums, counts = losses.ngram_sums(rows, ids, slots, 3)
  np.testing.assert_allclose(sums, [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])
  np.testing.assert_allclose(counts, [2.0, 0.0, 1.0])
  c = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
  grads = jax.grad(lambda r: jnp.sum(losses.ngram_sums(r, ids, slots, 3)[0] * c))(rows)
  np.testing.assert_allclose(grads[:3], [[1.0, 2.0], [1.0, 2.0], [5.0, 6.0]])


def test_subword_inputs_are_means_whose_rows_all_get_the_error_unscaled():
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel


  words = jnp.array([[1.0, 2.0], [3.0, 5.0]])
  sums = jnp.array([[1.0, 1.0], [0.0, 0.0]])  # Word 0: two n-gram rows (1, 0) + (0, 1); word 1: none.
  counts = jnp.array([2.0, 0.0])
  h = losses.subword_inputs(words, sums, counts)
  np.testing.assert_allclose(h, [[2.0 / 3, 1.0], [3.0, 5.0]])  # (1+1+0)/3, (2+0+1)/3.
  c = jnp.array([0.5, -2.0])
  gw, gs = jax.grad(lambda w, n: jnp.sum(losses.subword_inputs(w, n, counts) @ c),
                    argnums=(0, 1))(words, sums)
  np.testing.assert_allclose(gw, [c, c])  # Not c / 3: fastText applies the error unscaled.
  np.testing.assert_allclose(gs[0], c)  # And so does every n-gram row of the sum.


def test_cbow_with_subwords_averages_every_input_row_as_fasttext():
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel


  words = jnp.array([[1.0, 0.0], [0.0, 3.0], [9.0, 9.0]])  # The third slot is masked out.
  sums = jnp.array([[2.0, 0.0], [0.0, 0.0], [10.0, 10.0]])  # n-gram rows: 1, 0 and 2 of them.
  counts = jnp.array([1.0, 0.0, 2.0])
  mask = jnp.array([1.0, 1.0, 0.0])
  h, weight = losses.cbow_subword_hidden(words, sums, counts, mask)
  # Rows: word 0, its n-gram, word 1: (1 + 2 + 0, 0 + 0 + 3) / 3; not the mean of word means.
  np.testing.assert_allclose(h, [[1.0, 1.0]])
  np.testing.assert_allclose(weight, [1.0])
  c = jnp.array([1.0, -1.0])
  gw, gs = jax.grad(lambda w, n: losses.cbow_subword_hidden(w, n, counts, mask)[0][0] @ c,
                    argnums=(0, 1))(words, sums)
  np.testing.assert_allclose(gw, [c, c, [0.0, 0.0]])  # Unscaled; nothing for the masked slot.
  np.testing.assert_allclose(gs[0], c)


@pytest.mark.parametrize("model,input_word,negatives_per", [
    ("skipgram", "context", "window"), ("cbow", "context", "window"),
    ("skipgram", "centre", "window"), ("skipgram", "centre", "pair"),
    ("skipgram", "centre", "window_pool"), ("skipgram", "centre", "batch_pool")])
def test_subword_step_updates_each_row_as_fasttext(model, input_word, negatives_per):
  """One SGD step on a hand-made batch against fastText's update written out in NumPy.

  With the centre as input (fastText's own roles) the centre's word and n-gram rows are one
  input for every context word of its window, and a negative equal to a pair's context is
  skipped for that pair only. "window_pool": the window draws 2 negatives for its pairs' 1 each,
  so each weighs 1/2; "batch_pool": one pool of 2 for the batch's pairs, as much each.
  """
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import optax  # pylint: disable=import-outside-toplevel

  from w2v_jax import objectives, step  # pylint: disable=import-outside-toplevel

  rng = np.random.default_rng(0)
  V, bucket, D, lr = 6, 11, 4, 0.1
  table = subwords.Subwords(np.array([0, 2, 3, 3, 6, 7, 9]),
                            np.array([1, 4, 4, 0, 1, 7, 2, 9, 1]), bucket)
  centres = np.array([2, 4])
  contexts = np.array([[1, 3], [0, 5]])
  mask = np.array([[1.0, 1.0], [1.0, 0.0]], np.float32)
  # Window b's negatives (the second row's 3 is window 0's second context), or each pair's.
  negatives = np.array([[0, 3], [1, 2]]) if negatives_per != "pair" else np.array(
      [[[0, 3], [3, 5]], [[1, 2], [4, 4]]])
  batch_pool = negatives_per == "batch_pool"
  if batch_pool:
    negatives, negatives_per = np.array([0, 3]), "window"
  pool, negatives_per = negatives_per == "window_pool", negatives_per.replace("_pool", "")
  if input_word == "context":
    negatives = negatives[:, :1]
  batch = {"centres": centres, "contexts": contexts, "mask": mask, "negatives": negatives}
  if input_word == "centre":
    inputs, live = centres[None, :, None], mask.any(axis=1)[None, :, None]
  else:
    inputs, live = contexts[None], mask[None] > 0
  batch["ngrams"], batch["ngram_slots"] = (x[0] for x in table.of_slots(inputs, live))
  params = {"input": rng.normal(size=(V, D)).astype(np.float32),
            "ngrams": rng.normal(size=(bucket, D)).astype(np.float32),
            "output": rng.normal(size=(V, D)).astype(np.float32)}
  objective = objectives.word2vec(model=model, num_ns=1 if pool or batch_pool else
                                  negatives.shape[-1], bucket=bucket, skipgram_input=input_word,
                                  negatives_per=negatives_per, window_negatives=2 if pool else 0,
                                  shared_negatives=2 if batch_pool else 0)
  weight = 0.5 if pool or batch_pool else 1.0  # Of each negative.
  tx = optax.sgd(lr)
  state = step.TrainState(step=jnp.zeros((), jnp.int32), params=jax_tree(params),
                          opt_state={k: tx.init(v) for k, v in params.items()},
                          key=jnp.zeros((2,), jnp.uint32), noise=None)
  new, _ = step.train_step(state, {k: jnp.asarray(v) for k, v in batch.items()}, tx=tx,
                           objective=objective)

  want = {k: v.astype(np.float64) for k, v in params.items()}
  sig = lambda x: 1 / (1 + np.exp(-x))
  rows_of = lambda w: [["input", w], *[["ngrams", g] for g in table.of(w)]]
  for b in range(2):
    live = [s for s in range(2) if mask[b, s]]
    if input_word == "centre":  # One input, each context a prediction with its negatives.
      predictions = [(rows_of(centres[b]), [(contexts[b, s], 1.0)] + [
          (n, 0.0) for n in ({1: negatives, 2: negatives[b]}.get(negatives.ndim)
                             if negatives.ndim < 3 else negatives[b, s])
          if n != contexts[b, s]]) for s in live]
    else:
      targets = [(centres[b], 1.0), (negatives[b, 0], 0.0)]
      groups = ([rows_of(contexts[b, s]) for s in live] if model == "skipgram" else
                [[r for s in live for r in rows_of(contexts[b, s])]])
      predictions = [(group, targets) for group in groups]
    for group, targets in predictions:
      h = np.mean([params[t][i] for t, i in group], axis=0)
      grad = np.zeros(D)
      for target, label in targets:
        g = (label - sig(h @ params["output"][target])) * (1.0 if label else weight)
        grad += g * params["output"][target]
        want["output"][target] += lr * g * h
      for t, i in group:  # Every row of the mean gets the whole error (fastText's update).
        want[t][i] += lr * grad
  for name in params:
    np.testing.assert_allclose(np.asarray(new.params[name]), want[name], rtol=1e-5, atol=1e-6,
                               err_msg=name)


def jax_tree(params):
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  return {k: jnp.asarray(v) for k, v in params.items()}


@pytest.mark.slow
@pytest.mark.parametrize("combo", [{}, {"skipgram_input": "context"},
                                   {"model": "cbow", "hs": True, "num_ns": 0}])
def test_training_with_subwords_learns_planted_topics_and_writes_a_loadable_bin(
    planted_file, tmp_path, combo):
  from test_train_e2e import _topic_purity, tiny_config  # pylint: disable=import-outside-toplevel

  from w2v_jax import train  # pylint: disable=import-outside-toplevel

  workdir = str(tmp_path / "run")
  # n-grams such as "<t1" are shared by a topic's 6 words, and a batch sums their updates.
  config = tiny_config(planted_file, subwords=True, minn=2, maxn=4, bucket=4093, batch_size=64,
                       learning_rate=0.01, **combo)
  summary = train.train_and_evaluate(config, workdir)
  words, vectors = word2vec_format.read(f"{workdir}/vectors.bin")
  assert _topic_purity(words, vectors) > 0.95
  model = fasttext_format.read(f"{workdir}/model.bin")
  assert model.words == words and model.input.shape == (len(words) + 4093, 16)
  assert (model.args["minn"], model.args["maxn"], model.args["bucket"]) == (2, 4, 4093)
  assert model.args["loss"] == fasttext_format.LOSS["hs" if combo.get("hs") else "ns"]
  assert model.output.shape == (len(words), 16)
  composed = subwords.SubwordVectors(tuple(model.words), model.input[:len(words)],
                                     model.input[len(words):], 2, 4)
  np.testing.assert_allclose(composed.vocabulary_vectors(), vectors, rtol=1e-6, atol=1e-7)
  # An unseen word of topic 1 lands among topic 1's words, through its n-grams alone.
  unseen = composed.vector("t1w9")
  unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
  nearest = np.argsort(-(unit @ (unseen / np.linalg.norm(unseen))))[:3]
  assert all(words[i].startswith("t1") for i in nearest), [words[i] for i in nearest]
  assert summary["config"]["subwords"]
  # WordSim: no pair's words are in the planted vocabulary, but through n-grams (minn 2) all
  # 353 pairs have vectors, composed from their n-grams alone.
  assert summary["eval/wordsim_pairs"] == 0
  assert summary["eval/wordsim_subwords_pairs"] == summary["eval/wordsim_subwords_outside"] == 353


def test_wordsim_through_subwords_scores_pairs_outside_the_vocabulary(tmp_path):
  from w2v_jax import evaluate  # pylint: disable=import-outside-toplevel

  path = tmp_path / "ws.tsv"
  path.write_text("# word1 word2 score\nKing\tqueen\t9\nking\tkingly\t8\n"
                  "queen\tx\t1\nthe\tzzz\t2\n", encoding="utf-8")
  # kingly and zzz are outside the vocabulary but have (composed) vectors; x has none.
  vecs = {"king": np.array([1.0, 0.0]), "queen": np.array([0.8, 0.6]),
          "kingly": np.array([0.9, 0.1]), "the": np.array([0.0, 1.0]),
          "zzz": np.array([1.0, 0.0])}
  result, outside = evaluate.word_similarity_any(vecs.get, {"king", "queen", "the"}, str(path))
  assert (result.pairs, result.oov, outside) == (3, 1, 2)
  # Cosines 0.8, 0.994, 0.0 against scores 9, 8, 2: ranks (2, 3, 1) and (3, 2, 1).
  assert result.spearman == pytest.approx(1 - 6 * 2 / (3 * 8))


def test_analogies_through_subwords_compose_question_words_outside_the_vocabulary(tmp_path):
  from w2v_jax import evaluate  # pylint: disable=import-outside-toplevel

  path = tmp_path / "questions.txt"
  path.write_text(": family\nman woman king queen\nman woman kingly queen\n"
                  "man woman xx queen\nman woman king queenly\n", encoding="utf-8")
  words = ["man", "woman", "king", "queen", "boy"]
  vecs = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0],
                   [0.9, 0.1, 0.0]])
  # kingly: near king, so man : woman :: kingly : queen; xx has no vector; queenly is an answer
  # outside the candidates.
  composed = {"kingly": np.array([0.1, 0.0, 1.0]), "queenly": np.array([0.0, 1.0, 1.0])}
  plain = evaluate.analogy_accuracy(words, vecs, str(path))
  assert (plain.correct, plain.total, plain.oov) == (1, 1, 3)
  result, outside = evaluate.analogy_accuracy_any(words, vecs, composed.get, str(path))
  assert (result.correct, result.total, result.oov, outside) == (2, 2, 2, 1)
  # A composed word far from king gets the question wrong: the vector is really used.
  wrong, _ = evaluate.analogy_accuracy_any(words, vecs, {"kingly": vecs[0]}.get, str(path))
  assert (wrong.correct, wrong.total) == (1, 2)


def test_query_gives_vectors_neighbours_and_similarity_to_unseen_words(tmp_path):
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel

  from conftest import ROOT  # pylint: disable=import-outside-toplevel

  from w2v_jax import query  # pylint: disable=import-outside-toplevel

  model, ngram_rows = _model(np.random.default_rng(4), VOCAB)
  model.args["minn"] = 4  # So that a one-letter word ("<a>": 3 characters) has no n-gram.
  path = str(tmp_path / "model.bin")
  fasttext_format.write(path, model, ngram_rows)
  emb = query.load_embeddings(path)
  ours = subwords.SubwordVectors(tuple(VOCAB), model.input, ngram_rows, 4, 6)
  assert "kingly" not in emb
  np.testing.assert_allclose(emb.vector("kingly"), ours.vector("kingly"), rtol=1e-6)
  np.testing.assert_allclose(emb.vector("king"), ours.vocabulary_vectors()[2], rtol=1e-6)
  unit = lambda v: v / np.linalg.norm(v)
  assert emb.similarity("kingly", "king") == pytest.approx(
      float(unit(ours.vector("kingly")) @ unit(ours.vector("king"))), rel=1e-5)
  neighbours = emb.most_similar("kingly", topn=3)
  scores = {w: float(unit(emb.vector(w)) @ unit(ours.vector("kingly"))) for w in VOCAB}
  assert [w for w, _ in neighbours] == sorted(scores, key=scores.get, reverse=True)[:3]
  with pytest.raises(KeyError, match="'a' has no vector: not in the vocabulary, and no n-gram"):
    emb.vector("a")
  run = lambda *args: subprocess.run([sys.executable, "-m", "experiments.query", "--vectors",
                                      path, *args], cwd=ROOT, capture_output=True, text=True,
                                     timeout=120)
  result = run("kingly", "--topn", "2")
  assert result.returncode == 0, result.stderr
  assert result.stdout.splitlines()[0] == "kingly (not in the vocabulary: from its n-grams)"
  result = run("a")
  assert result.returncode == 2
  assert result.stderr.strip().endswith("'a' has no vector: not in the vocabulary, and no "
                                        "n-gram of 4-6 characters")


def test_query_cli_on_a_broken_fasttext_bin_is_one_line(tmp_path):
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel

  from conftest import ROOT  # pylint: disable=import-outside-toplevel

  model, ngram_rows = _model(np.random.default_rng(5), VOCAB)
  path = tmp_path / "model.bin"
  fasttext_format.write(str(path), model, ngram_rows)
  path.write_bytes(path.read_bytes()[:200])
  result = subprocess.run([sys.executable, "-m", "experiments.query", "--vectors", str(path),
                           "king"], cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [f"error: {path}: truncated (ends at byte 200)"]


def test_skipgram_input_auto_is_the_centre_with_subwords_and_negative_sampling_alone():
  from w2v_jax import config as config_lib  # pylint: disable=import-outside-toplevel

  def resolved(step="generic", **settings):
    config = config_lib.resolve(config_lib.make(corpus=("c.txt",), **settings), step=step)
    return (config.objective.skipgram_input, config.examples.layout,
            config.examples.batch_size)

  assert resolved(subwords=True) == ("centre", "windows", 128)
  assert resolved(step="fused", subwords=True) == ("centre", "sentences", 4096)

  def negatives_shape(**settings):  # Of a batch of 128 windows, 10 slots.
    config = config_lib.resolve(config_lib.make(corpus=("c.txt",), subwords=True, **settings),
                                step="generic")
    return objectives.from_config(config.objective).needs().negatives.shape(128, 10)

  assert negatives_shape(num_ns=3) == (128, 6)  # Twice num_ns per window.
  assert negatives_shape(window_negatives=7) == (128, 7)
  assert negatives_shape(negatives_per="pair") == (128, 10, 5)
  assert negatives_shape(skipgram_input="context") == (128, 5)
  assert resolved(subwords=True, layout="pairs") == ("context", "pairs", 256)
  assert resolved(subwords=True, hs=True) == ("context", "windows", 128)
  assert resolved(subwords=True, model="cbow") == ("context", "windows", 128)
  assert resolved(subwords=True, shared_negatives=64) == ("centre", "windows", 128)
  assert resolved() == ("context", "pairs", 1024)
  assert resolved(skipgram_input="centre") == ("centre", "windows", 128)
  with pytest.raises(ValueError, match="--skipgram_input='centre': centre needs --layout"):
    resolved(skipgram_input="centre", layout="pairs")
  with pytest.raises(ValueError, match="--window_negatives=4: needs the centre"):
    resolved(window_negatives=4)
