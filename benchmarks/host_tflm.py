"""How long one warm host evaluation takes (TFLite Micro, with and without the bit-exact
reference), printed: `python -m benchmarks.host_tflm [--samples N]`. Figures, not assertions."""
from __future__ import annotations

import argparse

from benchmarks.demo_models import build_demo_models
from targets.tflm.evaluate import evaluate_on_host


def main(samples: int) -> int:
    models = build_demo_models(samples=samples)
    model, x, y = models["int8"], models["x"], models["y"]
    evaluate_on_host("warm-up", model, x[:2], y[:2])  # starts the TFLM worker, warms caches
    for reference in (True, False):
        result = evaluate_on_host("demo-int8", model, x, y, reference=reference)
        print(f"host TFLM: {samples} samples, reference={reference}: {result.seconds:.3f} s "
              f"(engine {result.engine}, arena {result.arena_bytes} B [{result.arena_source}], "
              f"max LSB diff {result.max_lsb_diff})")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.host_tflm", description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    raise SystemExit(main(parser.parse_args().samples))
