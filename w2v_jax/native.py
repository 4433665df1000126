"""The fused CPU kernels (w2v_jax/kernels/*.cc): compiled on first use, cached, registered with XLA.

The kernel is built with the system's C++ compiler (`$CXX`, split as a shell would, e.g.
`ccache g++`; else c++ or g++) against the XLA FFI headers that ship with jaxlib, for this CPU
(`-march=native`), into a cache keyed by the source's hash, the jaxlib version, the compiler and
the CPU's flags: `$W2V_JAX_CACHE/kernels`, else `$XDG_CACHE_HOME/w2v_jax/kernels`
(~/.cache/w2v_jax/kernels). A build takes about 10 s, once per machine and version; concurrent
runs wait for one build. A cached library that does not load is built again, once. Where there is
no compiler or the build fails, `load` raises `KernelUnavailable` with one line saying why.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import IO

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels", "word2vec.cc")
TARGET = "w2v_jax_word2vec_step"
SYMBOL = "W2vJaxWord2VecStep"
# -ffp-contract=fast: multiply-adds fused, as GNU C++ does by default (ISO C++17 mode does not);
# -fno-trapping-math: no floating-point exception flags to keep, so the logistic loop vectorises.
FLAGS = ("-O3", "-march=native", "-ffp-contract=fast", "-fno-trapping-math", "-std=c++17",
         "-shared", "-fPIC", "-w")
BUILD_TIMEOUT_S = 600
_TMP = ".so.tmp"  # A build's output until it is complete: word2vec-<key>.<random>.so.tmp.


class KernelUnavailable(RuntimeError):
  """The fused kernel cannot be built or loaded here; the message says why, in one line."""


def cache_root() -> str:
  """Where w2v_jax keeps what it builds for this machine: $W2V_JAX_CACHE, else
  $XDG_CACHE_HOME/w2v_jax (~/.cache/w2v_jax)."""
  return os.environ.get("W2V_JAX_CACHE") or os.path.join(
      os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
      "w2v_jax")


def cache_dir() -> str:
  return os.path.join(cache_root(), "kernels")


def compiler() -> list[str] | None:
  """The command of the C++ compiler to build with: $CXX split as a shell would (`ccache g++`),
  else c++ or g++ on the PATH."""
  if os.environ.get("CXX", "").strip():
    try:
      return shlex.split(os.environ["CXX"])
    except ValueError as e:  # An unbalanced quote.
      raise KernelUnavailable(f"$CXX={os.environ['CXX']!r} cannot be parsed: {e}") from None
  found = shutil.which("c++") or shutil.which("g++")
  return None if found is None else [found]


def _cpu_flags() -> str:
  """What -march=native depends on: the CPU's feature flags (x86 Linux), else the machine."""
  with contextlib.suppress(OSError):
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
      for line in f:
        if line.startswith(("flags", "Features")):
          return line.split(":", 1)[1].strip()
  return platform.machine()


def _run_compiler(cxx: Sequence[str], args: Sequence[str], timeout: float
                  ) -> subprocess.CompletedProcess:
  """Runs the compiler; one that cannot be started (missing, not executable) or does not finish
  is KernelUnavailable naming it, never mistaken for a problem with the cache."""
  try:
    return subprocess.run([*cxx, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)
  except OSError as e:
    raise KernelUnavailable(
        f"C++ compiler {shlex.join(cxx)!r} does not run ({e.strerror or e})") from None
  except subprocess.TimeoutExpired:
    raise KernelUnavailable(
        f"C++ compiler {shlex.join(cxx)!r} took over {timeout:.0f} s") from None


def _compiler_version(cxx: Sequence[str]) -> str:
  out = _run_compiler(cxx, ["--version"], timeout=60)
  return out.stdout.splitlines()[0] if out.stdout else ""


def _key(cxx: Sequence[str]) -> str:
  import jaxlib  # pylint: disable=import-outside-toplevel

  with open(SOURCE, "rb") as f:
    source = f.read()
  return hashlib.sha256(b"\0".join([
      source, jaxlib.__version__.encode(), _compiler_version(cxx).encode(),
      _cpu_flags().encode(), " ".join(FLAGS).encode()])).hexdigest()[:16]


def _identity(path: str) -> tuple[int, ...] | None:
  """Which file is at `path` (None: none), to tell a library replaced since it was read."""
  try:
    st = os.stat(path)
  except FileNotFoundError:
    return None
  return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def library_path(*, broken: tuple[int, ...] | None = None) -> str:
  """The built kernel library, compiled first if this machine has none for this version.

  `broken`: the `_identity` of a library found at that path that does not load: built again,
  unless another process has replaced it meanwhile.
  """
  import jax.ffi  # pylint: disable=import-outside-toplevel

  cxx = compiler()
  if cxx is None:
    raise KernelUnavailable("no C++ compiler found (set $CXX, or install g++)")
  directory = cache_dir()
  name = f"word2vec-{_key(cxx)}"
  path = os.path.join(directory, name + ".so")
  if os.path.exists(path) and broken is None:
    return path
  try:
    os.makedirs(directory, exist_ok=True)
    with open(path + ".lock", "a+") as lock, _locked(lock) as exclusive:
      # Another process may have been building (or rebuilding) the same library meanwhile.
      found = _identity(path)
      if found is None or found == broken:
        if found is not None:  # Not served again, even where the build below fails.
          os.unlink(path)
        if exclusive:
          _sweep_killed_builds(directory, name)
        _build(cxx, jax.ffi.include_dir(), path, prefix=name + ".")
  except OSError as e:
    raise KernelUnavailable(f"cannot write the kernel cache {directory}: {e.strerror or e}") from None
  return path


@contextlib.contextmanager
def _locked(file: IO, blocking: bool = True) -> Iterator[bool]:
  """Holds an exclusive lock on `file` (POSIX flock: released by the kernel when its holder dies,
  however it dies); yields whether it is held. Without fcntl (not POSIX) there is no lock and
  concurrent first runs each build: their outputs have their own names, and the last replace wins.
  Not blocking, a lock held elsewhere yields False."""
  try:
    import fcntl  # pylint: disable=import-outside-toplevel
  except ImportError:
    yield False
    return
  try:
    fcntl.flock(file, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
  except BlockingIOError:
    yield False
    return
  try:
    yield True
  finally:
    fcntl.flock(file, fcntl.LOCK_UN)


def _sweep_killed_builds(directory: str, name: str) -> None:
  """Removes the outputs of builds that were killed (no `finally` ran), holding `name`'s lock.

  A build's output is named after its library, word2vec-<key>.<random>.so.tmp, and written
  only under that library's lock: with `name`'s lock held, its own are dead; another key's are
  dead when its lock is free (a lock dies with its holder, so neither a reused pid nor a slow
  build is mistaken for one). Names without a key (earlier releases' tmp*.so.tmp) are dead once
  older than a build may last.
  """
  with contextlib.suppress(OSError):
    for entry in os.listdir(directory):
      if not entry.endswith(_TMP):
        continue
      path = os.path.join(directory, entry)
      with contextlib.suppress(OSError):
        if entry.startswith(name + "."):
          dead = True
        elif entry.startswith("word2vec-") and "." in entry:
          lock_path = os.path.join(directory, entry.split(".", 1)[0] + ".so.lock")
          with open(lock_path, "a+") as lock, _locked(lock, blocking=False) as free:
            dead = free
        else:
          dead = time.time() - os.path.getmtime(path) > BUILD_TIMEOUT_S
        if dead:
          os.unlink(path)


def _build(cxx: Sequence[str], include: str, path: str, prefix: str) -> None:
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=prefix, suffix=_TMP)
  os.close(fd)
  try:
    out = _run_compiler(cxx, [*FLAGS, "-I", include, SOURCE, "-o", tmp],
                        timeout=BUILD_TIMEOUT_S)
    if out.returncode != 0:
      first = next((line for line in out.stderr.splitlines() if "error" in line),
                   out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "")
      raise KernelUnavailable(f"building the kernel failed ({shlex.join(cxx)} ...): "
                              f"{first.strip()}")
    os.replace(tmp, path)
  finally:
    with contextlib.suppress(FileNotFoundError):
      os.unlink(tmp)


def _open(path: str) -> ctypes.CDLL:
  """The library at `path` with its entry point; OSError or AttributeError where it has none."""
  library = ctypes.CDLL(path)
  try:
    getattr(library, SYMBOL)
  except AttributeError:
    # Unloaded, so that the rebuilt library at the same path is read and not this one again.
    with contextlib.suppress(ImportError, AttributeError, OSError):
      import _ctypes  # pylint: disable=import-outside-toplevel
      _ctypes.dlclose(library._handle)  # pylint: disable=protected-access
    raise
  return library


def open_library() -> ctypes.CDLL:
  """The kernel library, loaded; a cached one that does not load (a corrupt file, or no entry
  point) is built again once, and only then reported."""
  path = library_path()
  found = _identity(path)
  try:
    return _open(path)
  except (OSError, AttributeError):
    pass
  path = library_path(broken=found)
  try:
    return _open(path)
  except (OSError, AttributeError) as e:
    raise KernelUnavailable(f"cannot load the kernel library {path} (built again): "
                            f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


@functools.cache
def _load() -> tuple[str | None, str]:
  """(target name, "") once registered, or (None, why not); tried once per process."""
  import jax  # pylint: disable=import-outside-toplevel

  try:
    library = open_library()
  except KernelUnavailable as e:
    return None, str(e)
  jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(getattr(library, SYMBOL)),
                              platform="cpu")
  return TARGET, ""


def load() -> str:
  """Registers the kernel with XLA (CPU) once per process; its FFI target name.

  Raises KernelUnavailable (one line: why) where it cannot be built or loaded.
  """
  target, why = _load()
  if target is None:
    raise KernelUnavailable(why)
  return target
