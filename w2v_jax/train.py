"""A training run, in the order it happens: settings, corpus, state and step, the loop, outputs.

Each stage lives in the module named after it (config, rundir, pipeline, placement with step or
fused, loop, export, evaluate); this file only puts them in order.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import jax
from absl import logging

from w2v_jax import checkpoint as checkpoint_lib
from w2v_jax import config as config_lib
from w2v_jax import data, evaluate, export, fasttext_format, fused, logs, loop, memory, objectives
from w2v_jax import placement as placement_lib
from w2v_jax import pipeline, query, rundir, step_choice
from w2v_jax import step as step_lib
from w2v_jax import vocab as vocab_lib

# Re-exported: callers catch these from here.
TrainingDiverged, Interrupted = loop.TrainingDiverged, loop.Interrupted


@dataclasses.dataclass(frozen=True)
class _Run:
  """What the loop's hooks and the run's end share: the settings, the run directory and its
  metric log, where the tables live, the vocabulary, and the n-grams words compose with."""

  config: config_lib.Config
  run_dir: rundir.RunDir
  place: placement_lib.Placement
  log: logs.MetricLog
  vocab: vocab_lib.Vocab
  raw_words: int  # In an epoch of the corpus.
  ngrams: objectives.NgramRows | None


def train_and_evaluate(config: config_lib.Config, workdir: str, *,
                       objective: objectives.Objective | None = None,
                       tx: step_lib.Optimizer | None = None,
                       resume: bool = False, should_stop: Callable[[], bool] = lambda: False
                       ) -> dict[str, Any]:
  """Trains, writes vectors and logs to `workdir`, returns the summary.

  `objective` and `tx` (an Optax transform, or a function of the run's steps that makes one)
  replace the config's; the run is the same: corpus, checkpoints and resume, evaluation, export,
  TensorBoard. Raises `Interrupted` (after a checkpoint) when `should_stop()` turns true,
  `TrainingDiverged` on NaN/Inf, `text.CorpusError` / `ValueError` on bad input.
  """
  run = rundir.RunDir(workdir, jax.process_index())
  objective = objectives.for_run(config, objective)
  config = step_choice.resolve_for_run(config, objective, tx is None,
                                       run.saved_step() if resume else None)
  checkpoint = run.begin(config, resume)

  # The corpus and its examples, the state and the compiled step.
  t_setup = time.perf_counter()
  place = placement_lib.make_placement(config.devices, config.examples.batch_size)
  needs = objective.needs()
  prepared = pipeline.load(config.corpus, config.examples, needs, place.batch_size,
                           seed=config.run.seed, epochs=config.run.epochs, cache_dir=run.cache)
  vocab, rows, generic = prepared.vocab, place.rows(len(prepared.vocab)), (
      config.devices.step == "generic")
  vocab_lib.save_vocab(vocab, run.file("vocab.tsv"))
  logging.info("vocabulary %d words, %d tokens (%d raw), %d steps, %s step", len(vocab),
               len(prepared.corpus.ids), prepared.corpus.raw_words, prepared.total_steps,
               config.devices.step)
  tx, schedule = step_lib.optimizer_for(config.optimizer, tx, prepared.total_steps)
  features = pipeline.features(config.examples, vocab, needs, rows, place.batch_size,
                               negatives_on_host=config.objective.negatives_on_host,
                               replicas=place.replicas, generic=generic)
  state, step, position, words = placement_lib.placed_state(place, lambda: (
      step_lib.create_train_state(jax.random.PRNGKey(config.run.seed), objective.tables(rows),
                                  config.objective.embedding_dim, tx, features.noise,
                                  config.objective.init)), checkpoint, data.Position())
  if generic:
    train_fn = place.compile(state, tx, objective)
  else:  # The kernel draws what the pipeline would add (negatives, paths, n-grams) itself.
    kernel = fused.Kernel(objective.fused(), config.examples.window_size,
                          config.examples.dynamic_window, config.devices.threads)
    train_fn = place.compile_fused(kernel, tx, pipeline.lookups(prepared, needs))
  setup_seconds = time.perf_counter() - t_setup

  # The loop, over blocks prefetched on a thread.
  ctx = _Run(config, run, place, logs.MetricLog(run.path), vocab, prepared.corpus.raw_words,
             needs.ngrams)
  start = loop.Start(step, position, words)
  stream = data.Prefetcher(
      pipeline.blocks(prepared.source, features.outputs, config.run.epochs, place.batch_size,
                      start.position),
      transform=lambda b: (place.put_batches(b.batches, objective), b))
  hooks = _hooks(ctx, should_stop, start.step, prepared.total_steps)
  schedules = loop.Schedules(config.run.log_every, config.run.checkpoint_every,
                             config.run.eval_every_epoch, schedule, ctx.raw_words)
  try:
    result = loop.run(state, memory.releasing_after_first_call(train_fn), stream, schedules,
                      hooks, start)
  finally:
    stream.close()
    hooks.progress.close()
  del state

  # The outputs: the final checkpoint, the vector files, the final evaluation, the summary.
  summary = _finish(ctx, result)
  # The loop's wait for the next block is an upper bound on the step's idle time: calls still
  # in flight may have been computing then.
  summary.update(setup_seconds=setup_seconds, replicas=place.replicas, step=config.devices.step,
                 threads=config.devices.threads if config.devices.step == "fused" else None,
                 input_wait_fraction=stream.wait_seconds / max(result.train_seconds, 1e-9))
  run.write_summary(summary)
  run.status("done")
  return summary


def _hooks(ctx: _Run, should_stop: Callable[[], bool], start: int, total_steps: int) -> loop.Hooks:
  """What the loop calls out to: logs, checkpoints, evaluation, status, progress."""
  words, place = ctx.vocab.words, ctx.place

  def evaluate_now(step, state, epoch):
    results = _evaluate(ctx.config.run, words, *export.word_vectors(
        lambda name: place.table(state, name), words, ctx.ngrams))
    ctx.log.write(step, {"epoch": epoch, **results})
    return results

  def save_checkpoint(step, state, position, words_done):
    payload = place.to_host(checkpoint_lib.run_payload(state, position, words_done))
    if ctx.run_dir.primary:  # Every process took part in `to_host`: a collective.
      checkpoint_lib.save(ctx.run_dir.checkpoints, step, payload)
    place.sync()  # The others wait here, not at the next merge's collective.

  return loop.Hooks(
      log=ctx.log.write, checkpoint=save_checkpoint, evaluate=evaluate_now, should_stop=should_stop,
      on_diverged=lambda step: ctx.run_dir.status("diverged", step=step),
      on_interrupted=lambda step: ctx.run_dir.status("interrupted", step=step),
      progress=loop.progress_bar(total_steps, ctx.config.examples.steps_per_call, start,
                                 ctx.config.run.progress and ctx.run_dir.primary))


def _evaluate(settings: config_lib.RunConfig, words, vectors, composer) -> dict[str, float]:
  return evaluate.evaluate_vectors(words, vectors, settings.analogies, settings.wordsim, composer)


def _finish(ctx: _Run, result: loop.LoopResult) -> dict[str, Any]:
  """The final checkpoint and the vector files, the final evaluation, the summary.

  The checkpoint is written while the vector files are formatted (the disk works beside the
  CPU: ~3 s of 840 MB with subwords); both are complete before the vectors count as written.
  """
  config, place, vocab, words = ctx.config, ctx.place, ctx.vocab, list(ctx.vocab.words)
  payload = place.to_host(checkpoint_lib.run_payload(result.state, result.position, result.words))
  with concurrent.futures.ThreadPoolExecutor(1, "w2v-checkpoint") as pool:
    saving = (pool.submit(checkpoint_lib.save, ctx.run_dir.checkpoints, result.step, payload)
              if ctx.run_dir.primary else None)
    del payload  # On the CPU the host copy shares the device buffers: no second state.
    try:
      table = functools.partial(place.table, result.state)
      vectors, composer = export.word_vectors(table, words, ctx.ngrams)
      model = composer and fasttext_format.from_tables(
          table, vocab, ctx.raw_words, composer, fasttext_format.settings(
              config.objective, config.examples, config.corpus, config.run.epochs, composer))
      result.state = None  # Export and evaluation had been the peak: free the tables first.
      memory.release_freed()
      if ctx.run_dir.primary:
        export.write_run_files(ctx.run_dir.path, words, vectors, model, composer)
      del model
      if saving is not None:
        saving.result()
    except BaseException:
      if saving is not None and saving.exception() is not None:  # Waits for it to end.
        logging.error("the final checkpoint failed too: %s", saving.exception())
      raise
  place.sync()  # The others wait for process 0's files here, not in shutdown's shorter wait.
  written = time.time()
  results = result.eval_results  # The last epoch's evaluation, of the same vectors.
  if not results:
    results = _evaluate(config.run, words, vectors, composer)
    ctx.log.write(result.step, {"epoch": result.words / ctx.raw_words, **results})
  ctx.log.close()  # HParams are the sweep launcher's to write: it knows what the runs vary.
  seconds = max(result.train_seconds, 1e-9)
  return {"status": "done", "config": config.flat(), "steps": result.step,
          "vocab_size": len(vocab), "raw_words": ctx.raw_words,
          "final_loss": result.last["loss"], "final_accuracy": result.last.get("accuracy"),
          "train_seconds": result.train_seconds, "vectors_written_time": written,
          "words_per_sec": (result.words - result.words_start) / seconds,
          "pairs_per_sec": result.pairs / seconds, "eval_history": result.eval_history,
          "neighbours": query.nearest_neighbours(words, vectors,
                                                 query.shown_words(config.run.show_words, vocab)),
          **results}
