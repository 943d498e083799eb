"""The report: pictures, the mask inspector, and the page built from the notebooks."""
