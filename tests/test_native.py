"""The kernel's build path: the compiler command, its errors, the cache's repairs, no POSIX needs.

A fake compiler (a Python script) stands in for the real one where a test is about the build's
plumbing: it logs its arguments and writes what its mode says to the `-o` file. One slow test
builds the real kernel.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
import types

import pytest

from w2v_jax import native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Modes: garbage (not a library), stub (a library with the kernel's entry point), no_symbol (a
# library without it), unexec (answers --version, then loses its execute bit).
FAKE = textwrap.dedent("""\
    import json, os, subprocess, sys
    with open(os.environ["FAKE_CXX_LOG"], "a") as log:
      log.write(json.dumps(sys.argv[1:]) + "\\n")
    mode = os.environ["FAKE_CXX_MODE"]
    if "--version" in sys.argv:
      print("fake c++ 1.0")
      if mode == "unexec":
        os.chmod(sys.argv[0], 0o644)
      sys.exit(0)
    out = sys.argv[sys.argv.index("-o") + 1]
    if mode == "garbage":
      with open(out, "wb") as f:
        f.write(b"not a shared library")
    else:
      body = 'extern "C" int W2vJaxWord2VecStep() { return 0; }' if mode == "stub" else "int f();"
      subprocess.run([os.environ["REAL_CXX"], "-shared", "-fPIC", "-x", "c++", "-", "-o", out],
                     input=body.encode(), check=True)
    """)


@pytest.fixture
def fake_cxx(tmp_path, monkeypatch):
  """The fake compiler, $CXX in a fresh cache: its `path` and `calls()`, its argument lists."""
  path = tmp_path / "fake-cxx"
  path.write_text(f"#!{sys.executable}\n{FAKE}")
  path.chmod(0o755)
  log = tmp_path / "calls.jsonl"
  monkeypatch.setenv("W2V_JAX_CACHE", str(tmp_path / "cache"))
  monkeypatch.setenv("FAKE_CXX_LOG", str(log))
  monkeypatch.setenv("FAKE_CXX_MODE", "garbage")
  monkeypatch.setenv("CXX", str(path))
  monkeypatch.setenv("REAL_CXX", shutil.which("c++") or shutil.which("g++") or "c++")

  def calls():
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

  return types.SimpleNamespace(path=path, calls=calls)


def _builds(calls):
  return [c for c in calls if "--version" not in c]


def _needs_real_compiler():
  if not (shutil.which("c++") or shutil.which("g++")):
    pytest.skip("no C++ compiler")


def test_cxx_with_arguments_is_split_like_a_shell(fake_cxx, monkeypatch):
  monkeypatch.setenv("CXX", f"{sys.executable} {fake_cxx.path} --wrapped 'two words'")
  path = native.library_path()
  calls = fake_cxx.calls()
  assert [c[:2] for c in calls] == [["--wrapped", "two words"]] * 2
  assert calls[0][2:] == ["--version"]
  build = calls[1][2:]
  assert build[:len(native.FLAGS)] == list(native.FLAGS)
  output = build[build.index("-o") + 1]  # Written beside the library under its own name.
  assert os.path.dirname(output) == os.path.dirname(path)
  assert os.path.basename(output).startswith(os.path.basename(path)[:-len(".so")] + ".")
  assert output.endswith(".so.tmp") and not os.path.exists(output)
  assert open(path, "rb").read() == b"not a shared library"
  assert native.library_path() == path and len(_builds(fake_cxx.calls())) == 1  # Cached.


def test_an_unparsable_cxx_is_one_line(monkeypatch):
  monkeypatch.setenv("CXX", "g++ 'unbalanced")
  with pytest.raises(native.KernelUnavailable) as e:
    native.compiler()
  assert str(e.value) == "$CXX=\"g++ 'unbalanced\" cannot be parsed: No closing quotation"


def test_a_compiler_that_does_not_run_is_named_not_taken_for_the_cache(fake_cxx, tmp_path,
                                                                        monkeypatch):
  # Not executable at all: its --version does not run.
  plain = tmp_path / "not-executable"
  plain.write_text("")
  monkeypatch.setenv("CXX", str(plain))
  with pytest.raises(native.KernelUnavailable) as e:
    native.library_path()
  assert str(e.value) == f"C++ compiler '{plain}' does not run (Permission denied)"
  # Runs for --version, then cannot be started for the build.
  monkeypatch.setenv("CXX", str(fake_cxx.path))
  monkeypatch.setenv("FAKE_CXX_MODE", "unexec")
  with pytest.raises(native.KernelUnavailable) as e:
    native.library_path()
  assert str(e.value) == f"C++ compiler '{fake_cxx.path}' does not run (Permission denied)"
  assert [n for n in os.listdir(native.cache_dir()) if not n.endswith(".lock")] == []
  # The cache itself cannot be written: that one names the cache.
  fake_cxx.path.chmod(0o755)
  blocker = tmp_path / "a-file"
  blocker.write_text("")
  monkeypatch.setenv("W2V_JAX_CACHE", str(blocker))
  with pytest.raises(native.KernelUnavailable, match=f"cannot write the kernel cache {blocker}"):
    native.library_path()


@pytest.mark.parametrize("cached", ["garbage", "no_symbol"])
def test_a_cached_library_that_does_not_load_is_built_again_once(fake_cxx, monkeypatch, cached):
  _needs_real_compiler()
  monkeypatch.setenv("FAKE_CXX_MODE", cached)
  path = native.library_path()  # What a crash or a disk fault might leave.
  monkeypatch.setenv("FAKE_CXX_MODE", "stub")
  library = native.open_library()
  assert getattr(library, native.SYMBOL)() == 0
  assert len(_builds(fake_cxx.calls())) == 2  # The cached one, then one rebuild.
  assert native.library_path() == path


def test_a_library_that_still_does_not_load_is_reported_after_one_rebuild(fake_cxx):
  path = native.library_path()  # Garbage, and the compiler makes garbage again.
  with pytest.raises(native.KernelUnavailable,
                     match=f"cannot load the kernel library {path} \\(built again\\): "):
    native.open_library()
  assert len(_builds(fake_cxx.calls())) == 2


def test_a_library_replaced_meanwhile_is_not_built_again(fake_cxx):
  path = native.library_path()
  seen_before = (0, 0, 0, 0)  # What a process saw before another one replaced the library.
  assert native.library_path(broken=seen_before) == path
  assert len(_builds(fake_cxx.calls())) == 1


def test_outputs_of_killed_builds_are_swept_by_the_next_build(fake_cxx):
  path = native.library_path()
  directory, name = os.path.dirname(path), os.path.basename(path)[:-len(".so")]
  os.unlink(path)
  dead = [f"{name}.k1ll3d.so.tmp",  # This library's: its lock is ours now.
          "word2vec-0123456789abcdef.x1.so.tmp",  # Another version's, its lock free.
          "tmpold.so.tmp"]  # An earlier release's name, older than a build may last.
  alive = ["word2vec-fedcba9876543210.x2.so.tmp",  # Another version's, being built (locked).
           "tmpnew.so.tmp",  # An earlier release's name, recent.
           "notes.txt"]
  for entry in dead + alive:
    with open(os.path.join(directory, entry), "w") as f:
      f.write("partial")
  old = time.time() - native.BUILD_TIMEOUT_S - 60
  os.utime(os.path.join(directory, "tmpold.so.tmp"), (old, old))
  with open(os.path.join(directory, "word2vec-fedcba9876543210.so.lock"), "a+") as lock, \
      native._locked(lock) as held:  # pylint: disable=protected-access
    assert held
    assert native.library_path() == path
  left = set(os.listdir(directory))
  assert not left & set(dead)
  assert set(alive) <= left


def test_the_package_imports_and_builds_without_fcntl(fake_cxx):
  code = textwrap.dedent("""\
      import sys
      sys.modules["fcntl"] = None  # As on a platform without it: importing it fails.
      from w2v_jax import native
      with open(sys.argv[1], "a+") as f, native._locked(f) as held:
        assert not held
      print(open(native.library_path(), "rb").read().decode())
      """)
  run = subprocess.run([sys.executable, "-c", code, str(fake_cxx.path) + ".lock"], cwd=ROOT,
                       capture_output=True, text=True, check=False)
  assert run.returncode == 0, run.stderr[-2000:]
  assert run.stdout.strip() == "not a shared library"


@pytest.mark.slow
def test_a_corrupt_cached_kernel_is_rebuilt_and_loads(tmp_path, monkeypatch):
  _needs_real_compiler()
  monkeypatch.delenv("CXX", raising=False)
  monkeypatch.setenv("W2V_JAX_CACHE", str(tmp_path))

  def corrupt(cxx, include, path, prefix):  # What a crash or a disk fault might leave.
    del cxx, include, prefix
    with open(path, "wb") as f:
      f.write(b"\x7fELF truncated")

  with monkeypatch.context() as m:
    m.setattr(native, "_build", corrupt)
    path = native.library_path()
  library = native.open_library()  # One real build.
  assert hasattr(library, native.SYMBOL)
  assert os.path.getsize(path) > 1000
  assert stat.S_ISREG(os.stat(path).st_mode)
