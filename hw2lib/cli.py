"""The `hw2` command line. Each command imports what it needs when it runs, so `hw2 miou`
never imports torch.

    hw2 miou -g hw2_data/p2_data/validation -p out_masks/
    hw2 viz-mask --img 0010_sat.jpg --seg 0010_mask.png --out 0010_viz.png
"""
import argparse
import json
import math
import sys

from .files import DataError


def _nan_to_none(x):
    return None if isinstance(x, float) and math.isnan(x) else x


def cmd_miou(args):
    from .classes import get_spec
    from .maskeval import score_folders

    spec = get_spec(args.classes)
    miou, per_class, _ = score_folders(args.labels, args.pred, spec, args.workers)
    if args.json:
        out = {"miou": _nan_to_none(miou),
               "per_class": {k: _nan_to_none(v) for k, v in per_class.items()}}
        print(json.dumps(out))
    else:
        for i, (name, iou) in zip(spec.scored, per_class.items()):
            print(f"class #{i} {name:<12}: {iou:.6f}")
        print(f"mean_iou: {miou:.6f}")


def cmd_viz_mask(args):
    from pathlib import Path

    from .classes import get_spec
    from .data import read_mask
    from .files import read_rgb, write_png
    from .viz import overlay_mask

    spec = get_spec(args.classes)
    image, mask = read_rgb(args.img), read_mask(args.seg, spec)
    if image.shape[:2] != mask.shape:
        raise DataError(f"{args.seg}: size {mask.shape[1]}x{mask.shape[0]} differs from "
                        f"{args.img}'s {image.shape[1]}x{image.shape[0]}")
    out = args.out or str(Path(args.img).with_name(Path(args.img).stem + "_viz.png"))
    write_png(out, overlay_mask(image, mask, spec, args.alpha, args.edge_width))
    print(out)


def build_parser():
    p = argparse.ArgumentParser(prog="hw2", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("miou", help="mIoU of predicted masks against labels (official rule)",
                       description="Score a folder of predicted RGB masks against a folder of "
                                   "label masks, paired by file name, exactly as the course's "
                                   "evaluator does.")
    s.add_argument("-g", "--labels", required=True, help="folder of ground-truth *.png masks")
    s.add_argument("-p", "--pred", required=True, help="folder of predicted *.png masks")
    s.add_argument("--classes", default="deepglobe", help="class spec (default: deepglobe)")
    s.add_argument("--json", action="store_true",
                   help='print {"miou": ..., "per_class": {...}} (nan as null)')
    s.add_argument("--workers", type=int, default=None, help="decode threads (default: cores)")
    s.set_defaults(func=cmd_miou)

    s = sub.add_parser("viz-mask", help="draw a mask over its satellite image",
                       description="Tint an image with its mask's class colours and draw the "
                                   "class edges (the official viz_mask picture).")
    s.add_argument("--img", required=True, help="satellite image, e.g. 0010_sat.jpg")
    s.add_argument("--seg", required=True, help="RGB mask, e.g. 0010_mask.png")
    s.add_argument("--out", help="output PNG (default: <img stem>_viz.png beside the image)")
    s.add_argument("--classes", default="deepglobe", help="class spec (default: deepglobe)")
    s.add_argument("--alpha", type=float, default=0.3, help="tint opacity (default 0.3)")
    s.add_argument("--edge-width", type=int, default=5, help="edge width in pixels (default 5)")
    s.set_defaults(func=cmd_viz_mask)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (DataError, ValueError) as e:
        print(f"hw2 {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
