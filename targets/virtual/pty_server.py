"""The virtual board served on a pseudo-terminal: the pty loop, the command line, and the
process handle tests and the HIL plugin start it with.

A host process that speaks firmware/PROTOCOL.md exactly (targets.virtual.state_machine), so the whole
hardware path (pytest-embedded serial DUT, protocol client, Board recovery) runs on any machine.
Faults are injected by ``--fault`` (targets.virtual.faults.FaultPlan) so the host's recovery can
be tested. A hardware reset (what DTR/RTS does to a real board) is SIGUSR1 to this process.

    python -m targets.virtual.pty_server --target esp32s3 [--fault reset-eval@40 ...]
"""
from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import tty
from collections.abc import Callable
from pathlib import Path

from targets.virtual.faults import Dropped, FaultPlan, Hang, Restart, Vanish
from targets.virtual.host_engine import HostTflmEngine
from targets.virtual.state_machine import DEFAULT_ARENA_CAPACITY, DEFAULT_CHUNK_MAX, DEFAULT_LINE_MAX, VirtualDevice


def serve(device_factory: Callable[[Callable[[bytes], None]], VirtualDevice], master: int,
          reset_requested: Callable[[], bool],
          arm_requested: Callable[[], FaultPlan | None] = lambda: None) -> int:
    """Serve one VirtualDevice on the pty master until SIGTERM or a Vanish fault. Returns exit code."""

    def emit(data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(master, view)
            view = view[written:]

    device = device_factory(emit)
    buffer = b""
    parent = os.getppid()
    while True:
        if os.getppid() != parent:
            return 0  # whoever started us is gone (a killed pytest worker): do not linger
        if reset_requested():
            buffer = b""
            device.hardware_reset()
        plan = arm_requested()
        if plan is not None:
            device.arm(plan)
        device.boot_race.tick(emit)
        ready, _, _ = select.select([master], [], [], 0.05)
        if not ready:
            continue
        try:
            buffer += os.read(master, 65536)
        except OSError:
            continue  # no process has the slave open (EIO); keep waiting
        while b"\n" in buffer:
            raw, buffer = buffer.split(b"\n", 1)
            try:
                device.handle_line(raw)
            except Dropped:
                continue
            except Restart:
                buffer = b""
                device.boot()
            except Hang:
                device.hung = True
                buffer = b""
            except Vanish:
                os.close(master)
                return 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m targets.virtual.pty_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="esp32s3")
    parser.add_argument("--fault", action="append", default=[], help="see FaultPlan; repeatable")
    parser.add_argument("--arena-capacity", type=int, default=DEFAULT_ARENA_CAPACITY)
    parser.add_argument("--max-model-bytes", type=int, default=None,
                        help="default: the emulated heap (SRAM - firmware overhead - arena)")
    parser.add_argument("--chunk-max", type=int, default=DEFAULT_CHUNK_MAX)
    parser.add_argument("--line-max", type=int, default=DEFAULT_LINE_MAX)
    parser.add_argument("--targets-file", type=Path, default=None,
                        help="a repository's target registry, layered over the packaged one (pytest's --targets-file)")
    parser.add_argument("--ops-file", type=Path, default=None,
                        help="the op list the emulated firmware registers (default: firmware/main/registered_ops.txt; "
                             "a lean list as `python -m targets.tflm.lean_ops` writes it)")
    parser.add_argument("--control", type=Path, default=None,
                        help="on SIGUSR2, arm the faults listed in this file (one per line) and "
                             "delete it")
    args = parser.parse_args(argv)
    try:
        faults = FaultPlan.parse(args.fault)
    except ValueError as exc:
        parser.error(str(exc))
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass as on a UART
    print(os.ttyname(slave), flush=True)

    reset_flag = [False]
    arm_flag = [False]
    signal.signal(signal.SIGUSR1, lambda *_: reset_flag.__setitem__(0, True))
    signal.signal(signal.SIGUSR2, lambda *_: arm_flag.__setitem__(0, True))

    def arm() -> FaultPlan | None:
        if not arm_flag[0] or args.control is None:
            return None
        arm_flag[0] = False
        try:
            specs = args.control.read_text().split()
            plan = FaultPlan.parse(specs)
        except (OSError, ValueError) as exc:
            print(f"virtual board: cannot arm faults from {args.control}: {exc}", file=sys.stderr)
            return None
        args.control.unlink()  # the acknowledgement the host waits for
        return plan
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    def requested() -> bool:
        if reset_flag[0]:
            reset_flag[0] = False
            return True
        return False

    if args.ops_file is not None and not args.ops_file.is_file():
        parser.error(f"--ops-file {args.ops_file}: no such file")
    engine = HostTflmEngine(args.target, args.arena_capacity, args.ops_file, args.targets_file)
    try:
        return serve(lambda emit: VirtualDevice(args.target, engine, emit, faults=faults,
                                                line_max=args.line_max, chunk_max=args.chunk_max,
                                                max_model_bytes=args.max_model_bytes),
                     master, requested, arm)
    finally:
        engine.close()


# --------------------------------------------------------------------------- process handle
def end_process(proc: subprocess.Popen | None, grace_s: float = 5.0) -> None:
    """Stop a board process: SIGTERM, then SIGKILL if it has not ended within grace_s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class PtyServerProcess:
    """A running Python virtual board (this module's pty server), for tests and the HIL
    plugin: `.port` is the pty slave path, `.hard_reset()` does what DTR/RTS does to a real
    board, `.stop()` ends it."""

    def __init__(self, target: str, *, faults: FaultPlan | list[str] | None = None,
                 max_model_bytes: int | None = None, arena_capacity: int | None = None,
                 ops_file: Path | None = None, log_path: Path | None = None, start_timeout: float = 30.0,
                 targets_file: Path | None = None) -> None:
        plan = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(list(faults or []))
        self.control = Path(tempfile.mkdtemp(prefix="vb-control-")) / "faults"
        cmd = [sys.executable, "-m", "targets.virtual.pty_server", "--target", target, *plan.to_args(),
               "--control", str(self.control)]
        if max_model_bytes is not None:
            cmd += ["--max-model-bytes", str(max_model_bytes)]
        if ops_file is not None:
            cmd += ["--ops-file", str(Path(ops_file).resolve())]
        if targets_file is not None:
            cmd += ["--targets-file", str(Path(targets_file).resolve())]
        if arena_capacity is not None:
            cmd += ["--arena-capacity", str(arena_capacity)]
        self.target = target
        self.log_path = log_path
        log_file = open(log_path, "ab") if log_path else None
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=log_file if log_file is not None else subprocess.DEVNULL,
                                     cwd=root, env=env)
        if log_file is not None:
            log_file.close()
        stdout = self.proc.stdout
        assert stdout is not None, "the board process is started with stdout=PIPE"
        deadline = time.monotonic() + start_timeout
        ready, _, _ = select.select([stdout], [], [], start_timeout)
        line = stdout.readline().decode().strip() if ready else ""
        if not line.startswith("/dev/") or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"virtual board for {target} did not start (said {line!r}); "
                               f"command: {' '.join(cmd)}")
        self.port = line

    @property
    def pid(self) -> int:
        return self.proc.pid

    def hard_reset(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGUSR1)

    def arm(self, faults: list[str], timeout: float = 5.0) -> None:
        """Arm faults in the running board (counts start now); returns once it has."""
        FaultPlan.parse(faults)  # fail here, with the spec, rather than in the board
        self.control.write_text("\n".join(faults) + "\n")
        os.kill(self.proc.pid, signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        while self.control.exists():
            if time.monotonic() > deadline or not self.alive():
                raise RuntimeError(f"virtual board {self.target} did not arm {faults} "
                                   f"(see {self.log_path})")
            time.sleep(0.01)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        end_process(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> PtyServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
