"""Data and its scores: class specs, image files, folders -> arrays, metrics, the official evaluator.

Nothing here imports torch, so `hw2 miou` stays light."""
