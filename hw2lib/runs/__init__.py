"""Runs of a profile: params -> configs, train-or-reuse, the run graph (`hw2 runs`), preflight."""
