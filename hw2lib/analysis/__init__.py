"""Analysis of finished runs: bootstrap intervals, boundary study, t-SNE, findings, the reference report."""
