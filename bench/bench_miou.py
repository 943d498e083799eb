"""`hw2 miou` against the official evaluator, whole process each (start-up, imports, decode, score).

    .venv/bin/python bench/bench_miou.py [--masks ../shared/data/dlcv/p2_data/train] [--repeat 3]

Uses 300 real homework masks as labels and the same masks shifted as predictions (so the scores are
non-trivial), checks both tools print the same mean_iou, and reports the median speed-up.
"""
import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from hw2lib.engine.provenance import cpu_name

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t, out.strip().splitlines()[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--masks", default=str(ROOT.parent / "shared/data/dlcv/p2_data/train"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    src = sorted(Path(args.masks).glob("*_mask.png"))
    if not src:
        sys.exit(f"{args.masks}: no *_mask.png (point --masks at homework-format masks)")
    with tempfile.TemporaryDirectory() as tmp:
        g, p = Path(tmp, "g"), Path(tmp, "p")
        g.mkdir(), p.mkdir()
        for k, f in enumerate(src):
            shutil.copy(f, g)
            rgb = np.asarray(Image.open(f).convert("RGB"))
            Image.fromarray(np.roll(rgb, 3 * k % 97, axis=0)).save(p / f.name)
        ours_cmd = [sys.executable, "-m", "hw2lib", "miou", "-g", str(g), "-p", str(p)]
        ref_cmd = [sys.executable, str(ROOT / "bench/official_miou.py"), "-g", str(g), "-p", str(p)]
        ours, ref = [], []
        for _ in range(args.repeat):
            t, ours_line = timed(ours_cmd)
            ours.append(t)
            t, ref_line = timed(ref_cmd)
            ref.append(t)
        assert ours_line == ref_line, (ours_line, ref_line)
    mo, mr = statistics.median(ours), statistics.median(ref)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    print(f"masks: {len(src)} x 2 (labels, shifted predictions); both print '{ours_line}'")
    print(f"official re-implementation: {mr:.2f} s   hw2 miou: {mo:.2f} s   speed-up: {mr / mo:.1f}x "
          f"(median of {args.repeat})")


if __name__ == "__main__":
    main()
