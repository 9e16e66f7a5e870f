"""Run variant builds in dependency order on a few worker processes, one fresh process per build.

Why a fresh process per build: TensorFlow names tensors with a process-wide counter
(`reference_cnn/conv1/447`), and the converter writes those names into the .tflite. Two
identical builds in processes with different histories therefore give different bytes
(measured: converting the same float32 model first and third in one process gives two
sha256s). So every build runs in a child forked from one server that has only *imported*
TensorFlow (model_builders.tf_preload): each build starts from the same state, whatever
ran before, in whatever order, on however many workers. That is what makes a parallel
build byte-identical to a sequential one, and each fork costs about a second instead of
a TensorFlow import. Forking is safe there because the server never ran an op (TF is not
fork-safe once its runtime has started); the children are never forked again.

The server imports TensorFlow when it starts (seconds). It starts at the first build, or
earlier through start_server(): the pytest plugin starts it when the run is configured and
the cache is cold, so the import overlaps pytest's collection; a run that turns out not to
build stops it again (stop_server).

Scheduling: a variant is ready when its parent is built; ready variants start longest
first (by epochs). A variant whose key another process is building (a pytest-xdist worker)
is put aside and retried after the others, so two sessions sharing a cache work on
different variants instead of waiting on each other. A failure is that variant's alone:
the others are built and kept, and its children are reported as not built.
"""
from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import signal
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from model_builders.build_worker import BuildTask, TaskResult, init_worker, run_task

PRELOAD = ["model_builders.tf_preload"]


def _cost(task: BuildTask) -> float:
    """Rough relative build time: training epochs dominate; a conversion costs about one."""
    return float(task.recipe.params.get("epochs", 1))


def _context() -> multiprocessing.context.BaseContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def start_server() -> None:
    """Start the build fork server now (if it is not running) and return at once: it
    imports TensorFlow in its own process while the caller goes on. The builds use it."""
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


def stop_server() -> None:
    """Stop the fork server that start_server started, when nothing is going to be built:
    killed, since it may still be importing TensorFlow (it reads its stop request, the
    closed pipe, only after that)."""
    from multiprocessing import forkserver

    server = forkserver._forkserver  # the module-level server forkserver.ensure_running() starts
    pid = getattr(server, "_forkserver_pid", None)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    # closes its pipe, reaps it, removes its socket (private CPython API, absent from typeshed)
    server._stop()  # type: ignore[attr-defined]


def _pool(jobs: int, progress_queue) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=jobs, mp_context=_context(), initializer=init_worker,
                               initargs=(progress_queue,), max_tasks_per_child=1)


def run_builds(tasks: list[BuildTask], parents: dict[str, str | None], jobs: int,
               progress: Callable[[str], None],
               on_done: Callable[[TaskResult], None] | None = None) -> dict[str, TaskResult]:
    """Build every task (at most `jobs` at once); return a result per task name.

    `parents[name]` is the task's parent among `tasks` (None: ready at once, its parent
    was a cache hit). `on_done` is called in this process as each result arrives.
    """
    ctx = _context()
    progress_queue = ctx.Queue()
    todo = {t.name: t for t in tasks}
    results: dict[str, TaskResult] = {}
    deferred: list[BuildTask] = []  # busy elsewhere: retried when nothing else is ready
    running: dict[Future, BuildTask] = {}
    pool = _pool(jobs, progress_queue)

    def drain() -> None:
        while True:
            try:
                label, message = progress_queue.get_nowait()
            except (queue_module.Empty, OSError, EOFError):
                return
            progress(f"{label}: {message}")

    def finish(result: TaskResult) -> None:
        results[result.name] = result
        if on_done is not None:
            on_done(result)

    def ready() -> list[BuildTask]:
        out = []
        for name, task in list(todo.items()):
            parent = parents.get(name)
            if parent is None:
                out.append(task)
            elif parent in results:
                if results[parent].ok:
                    out.append(replace(task, parent_dir=results[parent].directory))
                else:
                    del todo[name]
                    finish(TaskResult(name, error=f"not built: its parent {parent} failed"))
        return sorted(out, key=_cost, reverse=True)

    try:
        while todo or running or deferred:
            for task in ready():
                if len(running) >= jobs:
                    break
                del todo[task.name]
                running[pool.submit(run_task, replace(task, wait_for_lock=False))] = task
            while deferred and len(running) < jobs and not ready():
                task = deferred.pop(0)  # nothing else to do: wait for the other process's build
                running[pool.submit(run_task, replace(task, wait_for_lock=True))] = task
            if not running:
                continue
            done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            broken = False
            for future in done:
                task = running.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool as exc:
                    broken = True
                    result = TaskResult(task.name,
                                        error=f"build worker died ({exc}); the process was killed or crashed")
                if result.busy:
                    progress(f"{task.label}: another process is building it; building the others first")
                    deferred.append(task)
                    continue
                finish(result)
            if broken:  # every task of the broken pool is lost; start a fresh pool for the rest
                for task in list(running.values()):
                    finish(TaskResult(task.name, error="build worker pool broke while this variant was building"))
                running.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = _pool(jobs, progress_queue)
        drain()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        progress_queue.close()
    return results
