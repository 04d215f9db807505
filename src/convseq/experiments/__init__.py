"""Named experiments (presets): config as plain data plus a function that runs it."""

from convseq.experiments.registry import Experiment, get_experiment, list_experiments, register

__all__ = ["Experiment", "get_experiment", "list_experiments", "register"]
