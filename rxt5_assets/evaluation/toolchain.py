"""Generated code checked by the real toolchains, never run.

* Rust compile: ``rustc --edition 2021 --crate-type lib --emit=metadata`` on the item written alone to a fresh temporary
  folder (MultiPL-E style). Metadata emission parses, expands ``macro_rules!`` and std's built-in derives, resolves
  names and type-checks, but generates and runs no code; compile-time constant evaluation runs inside the compiler's
  interpreter, under the same limits. An item that uses crate-local types (``crate::...``, a ``Config`` defined
  elsewhere) fails here: that is a property of the item, reported as is.
* Rust syntax: ``rustfmt --edition 2021 --emit stdout`` on stdin (exit 1 on a parse error, not on type errors; stdin
  also keeps rustfmt from looking for the files of ``mod x;``).
* Elixir: ``Code.string_to_quoted/1`` in one ``elixir`` process for a whole batch (a BEAM start costs 0.3-1 s). It only
  tokenizes and parses: no macro is expanded, nothing is compiled. Because it accepts any expression (a bare call such
  as ``defp format_to_to`` parses), each sample is also classified by what its top level holds (see ``elixir_check``).

Every process runs with RLIMIT_AS / RLIMIT_CPU / RLIMIT_FSIZE set in ``preexec_fn``, its own session (killed as a
group on timeout), a minimal environment, and without network (``unshare -n``, or ``unshare -r -n`` for a non-root
user, when the kernel allows it; otherwise ``ToolRun.isolation`` says so — none of these tools opens a socket). A
sample that times out or crashes the tool fails that sample only. A missing or broken toolchain makes the whole check
unavailable (``ToolRun.unavailable`` holds the reason), never a score of 0.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

DEFAULT_TIMEOUT_S = 15.0
DEFAULT_MEMORY_MB = 1024

# per-sample statuses
OK = "ok"
ERROR = "error"  # the tool rejected the code (compile error / parse error)
TIMEOUT = "timeout"  # wall-clock or CPU limit reached
CRASH = "crash"  # the tool died (signal, internal compiler error, memory limit)
# Elixir only: parsed, but the top level is not only definitions / did not parse / over the per-sample heap limit
NOT_DEFINITIONS = "not_definitions"
SYNTAX_ERROR = "syntax_error"
MEMORY = "memory"

ELIXIR_PARSED = frozenset({OK, NOT_DEFINITIONS})


INSTALL_HINTS = {
    "rustc": "install Rust (https://rustup.rs) or put rustc on PATH",
    "rustfmt": "rustup component add rustfmt",
    "elixir": "apt-get install elixir",
}


@dataclass(frozen=True)
class ToolRun:
    """The outcome of one check over a list of samples."""

    tool: str  # what ran, e.g. "rustc 1.95.0 (59807616e 2026-04-14)"
    statuses: tuple[str, ...] | None  # one status per sample; None when the check was unavailable
    errors: tuple[str, ...] = ()  # per sample, the tool's first error line ("" when none)
    unavailable: str | None = None  # why the check could not run at all
    isolation: str = ""  # how the network was cut off

    def passed(self, passing: frozenset[str] = frozenset({OK})) -> list[bool] | None:
        return None if self.statuses is None else [s in passing for s in self.statuses]

    def rate(self, passing: frozenset[str] = frozenset({OK})) -> float | None:
        """Share of samples whose status is in ``passing``; None when unavailable or there are no samples."""
        if not self.statuses:
            return None
        return sum(s in passing for s in self.statuses) / len(self.statuses)


def find_tool(name: str, search_path: str | None = None) -> tuple[str | None, str | None]:
    """(absolute path of ``name`` on ``search_path`` — default $PATH —, None) or (None, why it is unavailable)."""
    path = os.environ.get("PATH", os.defpath) if search_path is None else search_path
    exe = shutil.which(name, path=path)
    if exe is None:
        return None, f"{name} not found on PATH={path!r} ({INSTALL_HINTS.get(name, 'install it')})"
    return exe, None


_isolation_lock = threading.Lock()
_isolation: tuple[tuple[str, ...], str] | None = None


def network_isolation() -> tuple[tuple[str, ...], str]:
    """(command prefix that runs a program without network, description); probed once per process."""
    global _isolation
    with _isolation_lock:
        if _isolation is None:
            _isolation = _probe_isolation()
        return _isolation


def _probe_isolation() -> tuple[tuple[str, ...], str]:
    unshare = shutil.which("unshare") or shutil.which("unshare", path="/usr/bin:/bin")
    if unshare is None:
        return (), "none: no unshare binary (rustc --emit=metadata, rustfmt and Code.string_to_quoted open no sockets)"
    for flags in (("-n",), ("-r", "-n")):
        try:
            done = subprocess.run([unshare, *flags, "true"], capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return (unshare, *flags), "unshare " + " ".join(flags)
    return (), "none: unshare -n is not permitted here (the tools run open no sockets)"


def _limits(memory_mb: int, cpu_s: int):
    as_bytes = int(memory_mb) << 20
    fsize = 256 << 20  # an item's metadata or a sample file is far smaller; stops a runaway writer

    def apply() -> None:  # only setrlimit calls: no imports, no locks, safe after fork next to other threads
        resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _env(search_path: str, home: str, workdir: str) -> dict[str, str]:
    env = {"PATH": search_path, "HOME": home, "TMPDIR": workdir, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    for key in ("RUSTUP_HOME", "CARGO_HOME", "RUSTUP_TOOLCHAIN"):  # where a rustup proxy finds its toolchain
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _first_error(stderr: bytes) -> str:
    for line in stderr.decode("utf-8", "replace").splitlines():
        if line.startswith("error"):
            return line[:300]
    return ""


def _run(argv: list[str], *, cwd: str, env: dict, timeout_s: float, memory_mb: int, stdin: bytes | None = None):
    """(status, first error line) of one limited, network-less run; exit 0 = ok, 1 = error, anything else = crash."""
    prefix, _ = network_isolation()
    try:
        proc = subprocess.Popen(
            [*prefix, *argv],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_limits(memory_mb, math.ceil(timeout_s) + 1),
            start_new_session=True,
        )
    except OSError as exc:
        return CRASH, str(exc)
    try:
        _, err = proc.communicate(stdin, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return TIMEOUT, f"over {timeout_s:g} s"
    rc = proc.returncode
    if rc == 0:
        return OK, ""
    if rc == 1:
        return ERROR, _first_error(err)
    if rc in (-signal.SIGXCPU, -signal.SIGKILL):  # the CPU limit (SIGXCPU, then SIGKILL at the hard limit)
        return TIMEOUT, f"over {timeout_s:g} s of CPU"
    return CRASH, _first_error(err) or f"exit status {rc}"


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


_probed: dict[tuple[str, str], tuple[str | None, str, str | None]] = {}
_probed_lock = threading.Lock()


def _resolve(name: str, search_path: str | None) -> tuple[str | None, str, str | None]:
    """(executable to run, its version line, None) or (None, name, why it is unavailable); probed once per PATH.

    A rustup proxy is replaced by the toolchain binary it would run (``rustup which``, same environment, from a
    folder without a rust-toolchain file): the proxy costs ~15 ms a start, a third of a rustfmt run."""
    path = os.environ.get("PATH", os.defpath) if search_path is None else search_path
    key = (name, path)
    with _probed_lock:
        if key in _probed:
            return _probed[key]
    exe, why = find_tool(name, path)
    result = (None, name, why)
    if exe is not None:
        workdir = tempfile.mkdtemp(prefix="rxt5-tool-")
        try:
            env = _env(path, os.environ.get("HOME", workdir), workdir)
            result = _probe(name, exe, workdir, env)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    with _probed_lock:
        _probed[key] = result
    return result


def _probe(name: str, exe: str, workdir: str, env: dict) -> tuple[str | None, str, str | None]:
    def run(argv):
        return subprocess.run(argv, cwd=workdir, env=env, capture_output=True, timeout=60,
                              preexec_fn=_limits(DEFAULT_MEMORY_MB, 60))  # fmt: skip

    try:
        real = os.path.realpath(exe)
        if os.path.basename(real) == "rustup":
            which = run([real, "which", name])
            target = which.stdout.decode("utf-8", "replace").strip()
            if which.returncode == 0 and os.path.isfile(target):
                exe = target
        done = run([exe, "--version"])
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, name, f"{exe} --version failed: {exc}"
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return None, name, f"{exe} --version failed (exit {done.returncode}): {why[0] if why else ''}"
    return exe, (done.stdout.decode("utf-8", "replace").strip().splitlines() or [exe])[0], None


def _default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _rust_each(name: str, codes: Sequence[str], argv_for, *, stdin: bool, timeout_s: float, memory_mb: int,
               search_path: str | None, jobs: int | None) -> ToolRun:  # fmt: skip
    exe, version, why = _resolve(name, search_path)
    isolation = network_isolation()[1]
    if exe is None:
        return ToolRun(tool=version, statuses=None, unavailable=why, isolation=isolation)
    path = os.environ.get("PATH", os.defpath) if search_path is None else search_path
    home = os.environ.get("HOME", "/")

    def one(code: str) -> tuple[str, str]:
        workdir = tempfile.mkdtemp(prefix=f"rxt5-{name}-")
        try:
            data = code.encode("utf-8", "replace")
            if not stdin:
                Path(workdir, "lib.rs").write_bytes(data)
            return _run(argv_for(exe), cwd=workdir, env=_env(path, home, workdir), timeout_s=timeout_s,
                        memory_mb=memory_mb, stdin=data if stdin else None)  # fmt: skip
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    with ThreadPoolExecutor(max_workers=jobs or _default_jobs()) as pool:
        results = list(pool.map(one, codes))
    return ToolRun(tool=version, statuses=tuple(s for s, _ in results), errors=tuple(e for _, e in results),
                   isolation=isolation)  # fmt: skip


def rust_compile(codes: Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S, memory_mb: int = DEFAULT_MEMORY_MB,
                 search_path: str | None = None, jobs: int | None = None) -> ToolRun:  # fmt: skip
    """Each sample compiled alone as a library crate to metadata (type-checked, nothing generated or run); statuses
    ok / error (compile error) / timeout / crash. ``search_path`` replaces $PATH when looking up and running rustc."""

    def argv(exe: str) -> list[str]:
        return [exe, "--edition", "2021", "--crate-type", "lib", "--emit=metadata", "-o", "lib.rmeta", "lib.rs"]

    return _rust_each("rustc", codes, argv, stdin=False, timeout_s=timeout_s, memory_mb=memory_mb,
                      search_path=search_path, jobs=jobs)  # fmt: skip


def rust_parse(codes: Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S, memory_mb: int = DEFAULT_MEMORY_MB,
               search_path: str | None = None, jobs: int | None = None) -> ToolRun:  # fmt: skip
    """Each sample through ``rustfmt --edition 2021 --emit stdout`` (its syntax check); statuses ok / error (does not
    parse) / timeout / crash."""

    def argv(exe: str) -> list[str]:
        return [exe, "--edition", "2021", "--emit", "stdout"]

    return _rust_each("rustfmt", codes, argv, stdin=True, timeout_s=timeout_s, memory_mb=memory_mb,
                      search_path=search_path, jobs=jobs)  # fmt: skip


# Reads <dir>/<i>.ex for first <= i < last and prints "<i> <status>" for each, after a "rxt5-ready" header line.
_ELIXIR_SCRIPT = r"""
defmodule Rxt5.Check do
  @modules [:defmodule, :defprotocol, :defimpl]
  @defs [:def, :defp, :defmacro, :defmacrop, :defguard, :defguardp, :defdelegate]
  @guards [:defguard, :defguardp]
  @attrs [:doc, :spec, :impl, :moduledoc, :deprecated, :since, :typedoc, :type]

  def classify(source) do
    case Code.string_to_quoted(source) do
      {:ok, ast} -> if definitions?(ast), do: "ok", else: "not_definitions"
      {:error, _} -> "syntax_error"
    end
  end

  defp definitions?(ast) do
    checked = Enum.map(forms(ast), &form/1)
    bodies = for {:body, name} <- checked, do: name
    heads = for {:head, name} <- checked, do: name
    :other not in checked and (:module in checked or bodies != []) and Enum.all?(heads, &(&1 in bodies))
  end

  defp forms({:__block__, _, forms}) when is_list(forms), do: forms
  defp forms(form), do: [form]

  defp form({:@, _, [{name, _, _}]}) when name in @attrs, do: :attribute

  defp form({kind, _, [first | _] = args}) when kind in @modules do
    if not Keyword.keyword?(first) and has_do?(List.last(args)), do: :module, else: :other
  end

  defp form({:defdelegate, _, [head | _]}), do: named(:body, head)
  defp form({kind, _, [{:when, _, [_ | _]} = head]}) when kind in @guards, do: named(:body, head)

  defp form({kind, _, [head | rest]}) when kind in @defs do
    cond do
      Enum.any?(rest, &has_do?/1) -> named(:body, head)
      has_args?(head) -> named(:head, head)
      true -> :other
    end
  end

  defp form(_), do: :other

  defp has_do?(kw), do: is_list(kw) and Keyword.keyword?(kw) and Keyword.has_key?(kw, :do)

  defp named(tag, head) do
    case name(head) do
      nil -> :other
      name -> {tag, name}
    end
  end

  defp name({:when, _, [head | _]}), do: name(head)
  defp name({name, _, args}) when is_atom(name) and (is_list(args) or is_atom(args)), do: name
  defp name(_), do: nil

  defp has_args?({:when, _, [head | _]}), do: has_args?(head)
  defp has_args?({_, _, [_ | _]}), do: true
  defp has_args?(_), do: false

  # one sample in its own process: a heap limit and a timeout make a bad sample fail alone
  def run(path, timeout_ms, heap_words) do
    {pid, ref} =
      spawn_monitor(fn ->
        Process.flag(:max_heap_size, %{size: heap_words, kill: true, error_logger: false})
        exit({:rxt5, classify(File.read!(path))})
      end)

    receive do
      {:DOWN, ^ref, :process, _, reason} -> status_of(reason)
    after
      timeout_ms -> kill(pid, ref)
    end
  end

  defp kill(pid, ref) do
    Process.exit(pid, :kill)

    receive do
      {:DOWN, ^ref, :process, _, _} -> "timeout"
    end
  end

  defp status_of({:rxt5, status}), do: status
  defp status_of(:killed), do: "memory"
  defp status_of(_), do: "crash"
end

[dir, first, last, timeout_ms, heap_words] = System.argv()
[first, last, timeout_ms, heap_words] = Enum.map([first, last, timeout_ms, heap_words], &String.to_integer/1)
IO.puts("rxt5-ready Elixir #{System.version()} (OTP #{System.otp_release()})")

Enum.each(first..(last - 1)//1, fn i ->
  IO.puts("#{i} #{Rxt5.Check.run(Path.join(dir, "#{i}.ex"), timeout_ms, heap_words)}")
end)
"""

# +MIscs 64: the default 1 GB super carrier would not fit under RLIMIT_AS; one scheduler of each kind (each thread
# reserves address space: ~580 MB reserved at start this way, 1.1 GB by default) that sleeps when idle
_ERL_FLAGS = "+MIscs 64 +S 1:1 +SDcpu 1:1 +SDio 1 +A 1 +sbwt none +sbwtdcpu none +sbwtdio none"
_BEAM_BASE_MB = 1024  # the VM's own address space; the samples' heaps (each capped at memory_mb) come on top
ELIXIR_BATCH = 500  # samples per BEAM: bounds the atoms a long run creates (the atom table never shrinks)
_BEAM_START_S = 60.0  # generous: a BEAM start on a loaded 2-core machine


def elixir_check(codes: Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S, memory_mb: int = DEFAULT_MEMORY_MB,
                 search_path: str | None = None) -> ToolRun:  # fmt: skip
    """``Code.string_to_quoted/1`` on each sample, in one ``elixir`` process per ELIXIR_BATCH samples. Statuses:

    * ``ok``: parses, and the top level holds only definitions — ``defmodule``/``defprotocol``/``defimpl`` with a
      ``do`` body, ``def``/``defp``/``defmacro``/``defmacrop``/``defguard``/``defguardp``/``defdelegate`` (with a body;
      a bodiless head with arguments only when a clause with a body of the same name follows) and the attributes
      ``@doc @spec @impl @moduledoc @deprecated @since @typedoc @type`` — at least one module or def;
    * ``not_definitions``: parses, but the top level holds something else (``defp format_to_to`` is a call of
      ``defp`` with a bare ``format_to_to``: it parses, yet defines nothing);
    * ``syntax_error``: ``Code.string_to_quoted/1`` returned an error;
    * ``timeout`` / ``memory`` (over ``memory_mb`` of process heap) / ``crash``.
    """
    n = len(codes)
    exe, why = find_tool("elixir", search_path)
    isolation = network_isolation()[1]
    if exe is None:
        return ToolRun(tool="elixir", statuses=None, unavailable=why, isolation=isolation)
    path = os.environ.get("PATH", os.defpath) if search_path is None else search_path
    workdir = tempfile.mkdtemp(prefix="rxt5-elixir-")
    try:
        for i, code in enumerate(codes):
            Path(workdir, f"{i}.ex").write_bytes(code.encode("utf-8", "replace"))
        script = Path(workdir, "rxt5_check.exs")
        script.write_text(_ELIXIR_SCRIPT, encoding="utf-8")
        statuses: list[str | None] = [None] * n
        tool = "elixir"
        start = 0
        while start < n:
            end = min(n, start + ELIXIR_BATCH)
            header, lines, timed_out, err = _elixir_batch(exe, script, workdir, path, start, end, timeout_s, memory_mb)
            if header is None and start == 0:
                reason = err.strip().splitlines()[-1] if err.strip() else "no output"
                return ToolRun(tool=tool, statuses=None, unavailable=f"{exe} did not start: {reason}",
                               isolation=isolation)  # fmt: skip
            tool = header or tool
            for i, status in lines:
                if start <= i < end:
                    statuses[i] = status
            missing = next((i for i in range(start, end) if statuses[i] is None), None)
            if missing is None:
                start = end
            else:  # the VM died (or hung) at this sample: it fails, the batch resumes after it
                statuses[missing] = TIMEOUT if timed_out else CRASH
                start = missing + 1
        return ToolRun(tool=tool, statuses=tuple(statuses), errors=("",) * n, isolation=isolation)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _elixir_batch(exe: str, script: Path, workdir: str, path: str, start: int, end: int, timeout_s: float,
                  memory_mb: int):  # fmt: skip
    """(header line or None, [(index, status)], hit the batch's time limit, stderr) of one BEAM run."""
    heap_words = (int(memory_mb) << 20) // 8
    budget = timeout_s * (end - start) + _BEAM_START_S  # per-sample limits are enforced inside; this guards a hung VM
    prefix, _ = network_isolation()
    argv = [*prefix, exe, "--erl", _ERL_FLAGS, str(script), workdir, str(start), str(end),
            str(max(1, int(timeout_s * 1000))), str(heap_words)]  # fmt: skip
    proc = subprocess.Popen(
        argv,
        cwd=workdir,
        env=_env(path, workdir, workdir),  # HOME=workdir: no ~/.erlang is read
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_limits(_BEAM_BASE_MB + 2 * int(memory_mb), math.ceil(budget) + 1),  # GC copies: 2x
        start_new_session=True,
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    header = None
    lines = []
    for line in out.decode("utf-8", "replace").splitlines():
        if line.startswith("rxt5-ready "):
            header = line[len("rxt5-ready ") :]
            continue
        index, _, status = line.partition(" ")
        if index.isdigit() and status:
            lines.append((int(index), status))
    return header, lines, timed_out, err.decode("utf-8", "replace")
