"""The `hw2` command line. Each command imports what it needs when it runs, so `hw2 miou`
never imports torch.

    hw2 miou -g hw2_data/p2_data/validation -p out_masks/
    hw2 viz-mask --img 0010_sat.jpg --seg 0010_mask.png --out 0010_viz.png
    hw2 arch fcn8s --num-classes 7
    hw2 train params/sample/runs.yaml --run fcn8s --set epochs=5 [--resume]
    hw2 segment IMG_DIR OUT_DIR --checkpoint runs/sample/fcn8s/best.pt
    hw2 evaluate runs/sample/fcn8s/best.pt data/sample/dubai_aerial/validation
    hw2 classify IMG_DIR pred.csv --checkpoint runs/sample/resnet18/best.pt
    hw2 report --profile sample
"""
import argparse
import json
import math
import sys

from .files import DataError


def user_errors():
    """Exceptions that are the user's input, not our bug: one line, no traceback."""
    errors = (DataError, ValueError)
    if "torch" in sys.modules:  # only commands that use torch can raise these
        from .checkpoint import CheckpointError
        from .engine import TrainingDiverged
        from .models.weights import WeightsUnavailable
        errors += (CheckpointError, TrainingDiverged, WeightsUnavailable)
    return errors


def _nan_to_none(x):
    return None if isinstance(x, float) and math.isnan(x) else x


def print_scores(miou, per_class, as_json):
    """Each scored class's IoU, then `mean_iou: x`; or one JSON object (nan as null)."""
    if as_json:
        print(json.dumps({"miou": _nan_to_none(miou),
                          "per_class": {k: _nan_to_none(v) for k, v in per_class.items()}}))
        return
    for i, (name, iou) in enumerate(per_class.items()):  # scored classes lead every spec
        print(f"class #{i} {name:<12}: {iou:.6f}")
    print(f"mean_iou: {miou:.6f}")


def cmd_miou(args):
    from .classes import get_spec
    from .maskeval import score_folders

    miou, per_class, _ = score_folders(args.labels, args.pred, get_spec(args.classes), args.workers)
    print_scores(miou, per_class, args.json)


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


def cmd_arch(args):
    from .models import build_model, count_parameters

    model = build_model(args.name, args.num_classes, args.head_width)
    print(model)
    print(f"params: {count_parameters(model)}")


def cmd_train(args):
    from .config import load_config
    from .engine import train
    from .workbook import read_yaml, run_config

    if "runs" in read_yaml(args.config):  # a profile's runs.yaml: pick one run
        if not args.run:
            raise ValueError(f"{args.config} describes several runs; choose one with --run NAME")
        cfg = run_config(args.config, args.run, overrides=args.set)
    else:
        cfg = load_config(args.config, args.set)
    record = train(cfg, resume=args.resume)
    metric = "val_miou" if cfg["task"] == "segmentation" else "val_acc"
    print(f"best {metric} {record['best'][metric]:.6f} at epoch {record['best']['epoch']}; "
          f"wrote {cfg['out_dir']}/metrics.json")


def cmd_segment(args):
    from .inference import segment_folder

    n = segment_folder(args.img_dir, args.out_dir, args.checkpoint, args.device)
    print(f"wrote {n} masks to {args.out_dir}")


def cmd_evaluate(args):
    from .inference import evaluate_folder

    miou, per_class = evaluate_folder(args.checkpoint, args.data_dir, args.device)
    print_scores(miou, per_class, args.json)


def cmd_classify(args):
    from .inference import classify_folder

    n = classify_folder(args.img_dir, args.out_csv, args.checkpoint, args.device)
    print(f"wrote {n} predictions to {args.out_csv}")


def cmd_report(args):
    from .report import ReportError, build

    try:
        build(args.profile, args.data_root)
    except ReportError as e:
        raise DataError(str(e)) from None


def add_checkpoint_args(parser, positional=False):
    """The checkpoint to use and the device to run it on."""
    if positional:
        parser.add_argument("checkpoint", help="a best.pt or last.pt")
    else:
        parser.add_argument("--checkpoint", required=True, help="a best.pt or last.pt")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda (default auto)")


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

    s = sub.add_parser("arch", help="print a model's architecture and parameter count")
    s.add_argument("name", help="model name, e.g. fcn32s, fcn8s, unet16, resnet18")
    s.add_argument("--num-classes", type=int, default=7, help="output classes (default 7)")
    s.add_argument("--head-width", type=int, default=None, help="FCN head width (default 4096)")
    s.set_defaults(func=cmd_arch)

    s = sub.add_parser("train", help="train a model from a params YAML",
                       description="Train as CONFIG says (every key has a default; see "
                                   "hw2lib/config.py). Writes last.pt, best.pt, metrics.json and "
                                   "snapshots/ to out_dir. Under torchrun it trains with DDP.")
    s.add_argument("config", help="params YAML: a run's keys, or a profile's runs.yaml with --run")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter (repeatable), e.g. --set epochs=5")
    s.add_argument("--run", help="with a profile's runs.yaml: the run to train, e.g. fcn8s")
    s.add_argument("--resume", action="store_true", help="continue from out_dir/last.pt")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("segment", help="predict masks for a folder of *_sat.jpg (hw2_2.sh)")
    s.add_argument("img_dir", help="folder of {id}_sat.jpg")
    s.add_argument("out_dir", help="where {id}_mask.png go (must differ from img_dir)")
    add_checkpoint_args(s)
    s.set_defaults(func=cmd_segment)

    s = sub.add_parser("evaluate", help="mIoU of a checkpoint on a labelled folder")
    add_checkpoint_args(s, positional=True)
    s.add_argument("data_dir", help="folder of {id}_sat.jpg + {id}_mask.png")
    s.add_argument("--json", action="store_true", help='print {"miou": ..., "per_class": {...}}')
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("classify", help="predict labels for a folder of *.png (hw2_1.sh)")
    s.add_argument("img_dir", help="folder of *.png images")
    s.add_argument("out_csv", help="output CSV (image_id,label)")
    add_checkpoint_args(s)
    s.set_defaults(func=cmd_classify)

    s = sub.add_parser("report", help="run the notebooks and write build/report/report.html",
                       description="Execute notebooks/*.ipynb with papermill using "
                                   "params/<profile>/, export HTML, and assemble one "
                                   "self-contained report page.")
    s.add_argument("--profile", default="sample", help="params/<profile>/ (default: sample)")
    s.add_argument("--data-root", default=None,
                   help="the homework's data folder (p1_data/, p2_data/); default: the profile's")
    s.set_defaults(func=cmd_report)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except user_errors() as e:
        print(f"hw2 {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
