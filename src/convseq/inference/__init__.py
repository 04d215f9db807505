"""Using finished runs: load a run folder, encode texts fast, predict, evaluate."""
