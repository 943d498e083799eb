"""hw2 workbook: datasets and mask codec, models, losses, metrics, training engine, visualisation."""
__version__ = "0.1.0"
