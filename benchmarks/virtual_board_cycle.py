"""Timing goals of the HIL cycle on the virtual board, printed: `python -m benchmarks.virtual_board_cycle`.

Figures, not assertions (tests assert correctness): the virtual board's full per-variant
cycle on this machine, and the same cycle on a real UART computed from the bytes the
protocol moved.
"""
from __future__ import annotations

from typing import Any

from benchmarks.demo_models import build_demo_models
from targets.virtual.pty_server import PtyServerProcess


# --------------------------------------------------------------------------- benchmark
class _CountingLink:
    """Counts the bytes each way, to turn a run into link time at a UART baud rate."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.sent, self.received = inner, 0, 0

    def write(self, data: bytes) -> None:
        self.sent += len(data)
        self.inner.write(data)

    def readline(self, timeout: float) -> bytes | None:
        line = self.inner.readline(timeout)
        self.received += len(line or b"")
        return line


def main(target: str = "esp32s3", *, samples: int = 100, runs: int = 100,
               warmup: int = 10, baud: int = 921600) -> int:
    """Timing goals of the HIL cycle, printed (tests assert correctness, not time):
    1. the virtual board's full per-variant cycle (upload + verify, `time` of `runs` after
       `warmup`, `samples`-sample evaluation), wall clock on this machine;
    2. the same cycle on a real UART at `baud`, computed from the bytes the protocol moved
       in run 1 (10 bits per byte) plus the chip's compute from the latency estimate."""
    from targets.board.links import SerialLink
    from targets.board.protocol import ProtocolClient
    from targets.board.recovering_client import Board, run_cycle

    print("building demo models (reference CNN, untrained; sizes as the real variants) ...", flush=True)
    models = build_demo_models(samples=samples)
    import numpy as np

    rng = np.random.default_rng(0)
    rows = []
    with PtyServerProcess(target) as vb:
        link = _CountingLink(SerialLink(vb.port))
        board = Board(ProtocolClient(link), name=f"virtual {target}", hard_reset=vb.hard_reset)
        board.connect()
        for kind in ("int8", "float32"):
            model = models[kind]
            in_bytes = 150 if kind == "int8" else 600
            batch = [rng.integers(0, 256, in_bytes, dtype=np.uint8).tobytes() for _ in range(samples)]
            for round_ in ("cold", "warm"):  # cold: the board starts a TFLM worker for the model
                link.sent = link.received = 0
                result = run_cycle(board, model, name=f"demo_{kind}", samples=batch,
                                   runs=runs, warmup=warmup)
                rows.append((kind, round_, len(model), result, link.sent, link.received))
        link.inner.close()
    print(f"\nvirtual board ({target}), {samples} samples, time {runs} runs after {warmup} warm-up:")
    print(f"{'model':<8} {'round':<5} {'bytes':>7} {'upload s':>9} {'eval s':>7} {'cycle s':>8} "
          f"{'goal':>6}")
    for kind, round_, size, r, _, _ in rows:
        ok = "ok" if r.seconds < 3.0 else "MISSED"
        print(f"{kind:<8} {round_:<5} {size:>7} {r.upload.seconds:>9.3f} {r.evaluation.seconds:>7.3f} "
              f"{r.seconds:>8.3f} {'<3 s ' + ok:>6}")
    print(f"\nreal UART at {baud} baud, computed from the bytes above (10 bits/byte, both "
          f"directions serialized) + chip compute from the latency estimate:")
    print(f"{'model':<8} {'host->dev':>10} {'dev->host':>10} {'link s':>7} {'compute s':>10} "
          f"{'total s':>8} {'goal':>8}")
    for kind, round_, _size, r, sent, received in rows:
        if round_ != "warm":
            continue
        link_s = (sent + received) * 10 / baud
        compute_s = (runs + warmup + samples + 1) * r.timing.mean_us / 1e6
        total = link_s + compute_s
        print(f"{kind:<8} {sent:>10} {received:>10} {link_s:>7.2f} {compute_s:>10.3f} {total:>8.2f} "
              f"{'<5 s ' + ('ok' if total < 5 else 'MISSED'):>8}")
    print("\nversus rebuild-and-reflash per variant: about a minute (idf.py build + esptool "
          "flash of a ~1 MB image at 921600 baud; the issue's figure, not measured here).")
    return 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.virtual_board_cycle",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="esp32s3")
    raise SystemExit(main(parser.parse_args().target))
