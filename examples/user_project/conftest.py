"""The harness is an installed pytest plugin; this project only registers its model."""
import wrist_models  # noqa: F401  (registers the "wrist_cnn" architecture)
