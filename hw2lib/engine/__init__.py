"""The training engine: run folder, checkpoints, loss, transforms, runtime, inference, the loop."""
