"""TinyML hardware-in-the-loop harness: the pytest plugin that ties the packages together.

model_builders (data and variants) -> targets (host TFLM, boards) -> reports (records,
budgets, baseline, report). `tinyml_harness.plugin` is the pytest11 entry point.
"""
