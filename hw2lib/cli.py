"""The `hw2` command line. Each command imports what it needs when it runs, so `hw2 miou`
never imports torch.

    hw2 miou -g hw2_data/p2_data/validation -p out_masks/
    hw2 viz-mask --img 0010_sat.jpg --seg 0010_mask.png --out 0010_viz.png
    hw2 arch fcn8s --num-classes 7
    hw2 train params/sample/runs.yaml --run fcn8s --set epochs=5 lr=1e-4 [--resume [--extend]]
    hw2 segment IMG_DIR OUT_DIR --checkpoint runs/sample/fcn8s/kept.pt
    hw2 evaluate runs/sample/fcn8s/kept.pt data/sample/dubai_aerial/validation
    hw2 classify IMG_DIR pred.csv --checkpoint runs/sample/resnet18/kept.pt
    hw2 runs --profile homework --data-root ~/hw2_data [--parallel N] [--address auto]
    hw2 report --profile homework --data-root ~/hw2_data --dry-run
    hw2 check --profile homework --data-root ~/hw2_data
"""
import argparse
import json
import sys

from .errors import Hw2Error


def positive_int(text):
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def print_scores(scores, as_json):
    """Each scored class's IoU, then `mean_iou: x`; or one JSON object (nan as null)."""
    if as_json:
        from .numbers import strict_json

        print(json.dumps(strict_json({"miou": scores["miou"], "per_class": scores["iou"]})))
        return
    for i, (name, iou) in enumerate(scores["iou"].items()):  # scored classes lead every spec
        print(f"class #{i} {name:<12}: {iou:.6f}")
    print(f"mean_iou: {scores['miou']:.6f}")


def cmd_miou(args):
    from .data.evaluator import score_folders
    from .data.label_specs import get_spec

    scores, _ = score_folders(args.labels, args.pred, get_spec(args.classes), args.workers)
    print_scores(scores, args.json)


def cmd_viz_mask(args):
    from pathlib import Path

    from .data.datasets import read_pair
    from .data.images import write_png
    from .data.label_specs import get_spec
    from .report.viz import overlay_mask

    spec = get_spec(args.classes)
    image, mask = read_pair(args.img, args.seg, spec)
    out = args.out or str(Path(args.img).with_name(Path(args.img).stem + "_viz.png"))
    write_png(out, overlay_mask(image, mask, spec, args.alpha, args.edge_width))
    print(out)


def cmd_arch(args):
    from .models import describe_model

    print(describe_model(args.name, args.num_classes, {"head_width": args.head_width}))


def cmd_train(args):
    from .engine.training import train
    from .errors import ConfigError
    from .numbers import fmt
    from .runs.profiles import settings_from_runs_yaml
    from .settings import load_settings, read_yaml

    if args.extend and not args.resume:
        raise ConfigError("--extend continues a run: use it with --resume")
    if "runs" in read_yaml(args.config):  # a profile's runs.yaml: pick one run
        if not args.run:
            raise ConfigError(f"{args.config} describes several runs; choose one with --run NAME")
        settings = settings_from_runs_yaml(args.config, args.run, overrides=args.set)
    else:
        settings = load_settings(args.config, args.set)
    record = train(settings, resume=args.resume, extend=args.extend)
    metric = record.metric
    print(f"epoch kept: {record.kept_epoch} ({metric} {fmt(record.kept_score(), '.6f')}); final epoch "
          f"{record.history[-1]['epoch']} ({metric} {fmt(record.final_score(), '.6f')}); run folder "
          f"{settings.place.out_dir}")


def cmd_segment(args):
    from .engine.inference import segment_folder

    n = segment_folder(args.img_dir, args.out_dir, args.checkpoint, args.device)
    print(f"wrote {n} masks to {args.out_dir}")


def cmd_evaluate(args):
    from .engine.inference import evaluate_folder

    scores, _ = evaluate_folder(args.checkpoint, args.data_dir, args.device)
    print_scores(scores, args.json)


def cmd_classify(args):
    from .engine.inference import classify_folder

    n = classify_folder(args.img_dir, args.out_csv, args.checkpoint, args.device)
    print(f"wrote {n} predictions to {args.out_csv}")


def cmd_runs(args):
    from .runs.graph import STOPPED, outcome_table, plan_lines, train_all

    if args.plan:
        print("\n".join(plan_lines(args.profile, args.data_root, dry_run=args.dry_run, only=args.only,
                                   overrides=args.set, repeats=args.repeats)))
        return 0
    outcomes = train_all(args.profile, args.data_root, dry_run=args.dry_run, only=args.only, overrides=args.set,
                         repeats=args.repeats, parallel=args.parallel, gpus_per_run=args.gpus_per_run,
                         address=args.address)
    print(outcome_table(outcomes))
    if any(o.action in STOPPED for o in outcomes):
        return 75
    return 0 if all(o.ok for o in outcomes) else 1


def cmd_report(args):
    from .report.build import build_report

    build_report(args.profile, args.data_root, dry_run=args.dry_run, overrides=args.set, repeats=args.repeats,
                 graph={"parallel": args.parallel, "gpus_per_run": args.gpus_per_run, "address": args.address},
                 reference_results=args.reference_results)


def cmd_check(args):
    from .runs.preflight import preflight

    problems = preflight(args.profile, args.data_root, log=print)
    if problems:
        print(f"{len(problems)} problem(s):", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 2
    print("all checks passed")


def add_profile_args(parser):
    """The profile, its data and its overrides: what `hw2 runs`, `report` and `check` work on."""
    parser.add_argument("--profile", default="sample", help="params/<profile>/ (default: sample)")
    parser.add_argument("--data-root", default=None,
                        help="the homework's data folder (p1_data/, p2_data/); default: the profile's")


def add_graph_args(parser):
    """How the runs of a profile are placed (see `hw2 runs`)."""
    parser.add_argument("--dry-run", action="store_true",
                        help="every run at toy scale on the real data, into runs/<profile>-dry/")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override a parameter of every run whose task has it, e.g. --set precision=bf16")
    parser.add_argument("--repeats", type=int, default=None, metavar="N",
                        help="train at most N of each run's seed repeats (1: a quick pass, one training each)")
    parser.add_argument("--parallel", type=int, default=None, metavar="N",
                        help="runs at once on Ray (default: one per GPU with several GPUs, else one)")
    parser.add_argument("--gpus-per-run", type=float, default=None, metavar="F",
                        help="GPUs each run asks Ray for; 0.5 packs two runs on a GPU (default 1)")
    parser.add_argument("--address", default=None,
                        help="a Ray cluster to use, e.g. auto (runs/ and the data on a shared filesystem)")


def add_checkpoint_args(parser, positional=False):
    """The checkpoint to use and the device to run it on."""
    if positional:
        parser.add_argument("checkpoint", help="a kept.pt or last.pt")
    else:
        parser.add_argument("--checkpoint", required=True, help="a kept.pt or last.pt")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda (default auto)")


def add_folder_job(sub, name, help, source, target, func):
    """A homework job: a folder of images in, predictions out, from a --checkpoint."""
    s = sub.add_parser(name, help=help)
    for arg, arg_help in (source, target):
        s.add_argument(arg, help=arg_help)
    add_checkpoint_args(s)
    s.set_defaults(func=func)


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
    s.add_argument("--workers", type=positive_int, default=None,
                   help="decoding processes (default: the cores this process may use)")
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
                                   "hw2lib/settings.py). Writes last.pt, kept.pt, metrics.json and "
                                   "snapshots/ to out_dir. Under torchrun it trains with DDP.")
    s.add_argument("config", help="params YAML: a run's keys, or a profile's runs.yaml with --run")
    s.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override parameters, e.g. --set epochs=5 lr=1e-4")
    s.add_argument("--run", help="with a profile's runs.yaml: the run to train, e.g. fcn8s")
    s.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from out_dir/last.pt, parameters unchanged")
    s.add_argument("--extend", action="store_true",
                   help="with --resume: continue to a larger `epochs` as a warm restart (the "
                        "learning-rate schedule is re-planned over the new total)")
    s.set_defaults(func=cmd_train)

    add_folder_job(sub, "segment", "predict masks for a folder of *_sat.jpg (hw2_2.sh)",
                   ("img_dir", "folder of {id}_sat.jpg"),
                   ("out_dir", "where {id}_mask.png go (must differ from img_dir)"), cmd_segment)

    s = sub.add_parser("evaluate", help="mIoU of a checkpoint on a labelled folder")
    add_checkpoint_args(s, positional=True)
    s.add_argument("data_dir", help="folder of {id}_sat.jpg + {id}_mask.png")
    s.add_argument("--json", action="store_true", help='print {"miou": ..., "per_class": {...}}')
    s.set_defaults(func=cmd_evaluate)

    add_folder_job(sub, "classify", "predict labels for a folder of *.png (hw2_1.sh)",
                   ("img_dir", "folder of *.png images"), ("out_csv", "output CSV (image_id,label)"),
                   cmd_classify)

    s = sub.add_parser("runs", help="train or reuse every run of a profile (a graph, on Ray if parallel)",
                       description="Train or reuse every run of a profile as a dependency graph "
                                   "(init_from parents first), in this process or as Ray tasks, "
                                   "and end with a table. Exit 0, 1 if a run failed, 75 if "
                                   "stopped by a signal (run it again to continue).")
    add_profile_args(s)
    add_graph_args(s)
    s.add_argument("--only", nargs="+", default=(), metavar="NAME", help="these runs (and their parents)")
    s.add_argument("--plan", action="store_true",
                   help="say for each run whether it would be reused, resumed or trained (and why), train nothing")
    s.set_defaults(func=cmd_runs)

    s = sub.add_parser("report", help="train the runs, run the notebooks, write build/report/report.html",
                       description="Train or reuse every run (as `hw2 runs`), then execute "
                                   "notebooks/*.ipynb with papermill using params/<profile>/, export "
                                   "HTML, and assemble one self-contained report page.")
    add_profile_args(s)
    add_graph_args(s)
    s.add_argument("--reference-results", "--seed-results", default=None, metavar="FILE",
                   help="the reference report's numbers to compare with (default: the profile's own)")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("check", help="preflight: data, weights, device and disk, without training",
                       description="Check what a profile needs before a long run: the data "
                                   "layout and every file, snapshot tiles, pretrained weights, "
                                   "the device, and free disk space for the checkpoints. Exit 0 "
                                   "when all is well, else 2 with one line per problem.")
    add_profile_args(s)
    s.set_defaults(func=cmd_check)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except Hw2Error as e:
        print(f"hw2 {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
