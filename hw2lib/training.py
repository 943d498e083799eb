"""The training loop for both tasks, read top-down: set-up, resume, then for each epoch train one
epoch, evaluate, save.

    hw2 train params/sample/runs.yaml --run fcn8s --set epochs=3
    hw2 train params/sample/runs.yaml --run fcn8s --set epochs=5 --resume --extend
    torchrun --nproc_per_node 2 -m hw2lib train params/sample/runs.yaml --run fcn8s   # DDP

All randomness of an epoch (data order, augmentation, dropout) is seeded from (seed, epoch), so
a run resumed from `last.pt` repeats exactly what an unbroken run does. Under DDP the data order
is shared and each rank draws its own augmentation and dropout.

A fresh run is built beside its folder and swapped in after its first epoch (see `RunDir`).
`--resume` continues an interrupted run with unchanged parameters; `--resume --extend` continues
with more epochs as a warm restart: the learning-rate schedule is re-planned over the new total,
so the rate jumps back up (the record notes where).
"""
import math
import time
from pathlib import Path

import torch

from .checkpoint import compact_state_dict, load_checkpoint
from .config import check_data
from .errors import CheckpointError, ConfigError, TrainingDiverged
from .inference import Predictor, evaluate_split
from .models import build_model
from .provenance import environment
from .run_dir import RunDir
from .runtime import (Distributed, Optimisation, Progress, autocast, resolve_device,
                      resolve_precision)
from .snapshots import write_snapshot_inputs, write_snapshots
from .tasks import Split, make_task
from .transforms import augment, to_input

# Parameters that say where a run lives or runs, not what it computes: a resume may change them.
WHERE = ("out_dir", "device", "data_root")


class EpochLoss:
    """Sums an epoch's finite batch losses on the device (no host sync per step), and counts the
    non-finite ones and their longest run. Under fp16 GradScaler skips an overflowing batch, so
    only a persistent run of them means divergence; in fp32/bf16 one non-finite loss does."""

    def __init__(self, device):
        self.sum, self.finite, self.bad, self.streak, self.longest = (
            torch.zeros((), dtype=torch.float64, device=device) for _ in range(5))

    def add(self, loss):
        ok = torch.isfinite(loss.detach())
        self.sum += torch.where(ok, loss.detach().double(), 0.0)
        self.finite += ok
        self.bad += ~ok
        self.streak = (self.streak + 1) * ~ok
        self.longest = torch.maximum(self.longest, self.streak)

    def result(self, ddp, precision, patience=10):
        """(mean finite loss, number of non-finite batches, diverged?) over all ranks."""
        totals = ddp.sum(torch.stack([self.sum, self.finite, self.bad]))
        total, finite, bad = totals.tolist()
        longest = ddp.max(self.longest).item()
        diverged = finite == 0 or (bad > 0 and precision != "fp16") or longest >= patience
        return (total / finite if finite else float("nan")), int(bad), diverged


def train_one_epoch(model, split, order, cfg, loss_fn, optim, gen, device, precision, desc):
    """One pass over `order` in whole batches; returns the epoch's `EpochLoss`."""
    model.train()
    bs = cfg["batch_size"]
    size = cfg["input_size"] if cfg["task"] == "classification" else None
    losses, progress = EpochLoss(device), Progress(len(order) // bs, desc)
    for step in range(len(order) // bs):
        idx = order[step * bs:(step + 1) * bs]
        x = to_input(split.images[idx.to(split.images.device)], device, size, cfg["channels_last"])
        y = split.targets[idx.to(split.targets.device)].to(device, non_blocking=True).long()
        x, y = augment(x, y, cfg["augment"], gen)
        with autocast(device, precision):
            loss = loss_fn(model(x), y)
        optim.step(loss)
        losses.add(loss)
        progress.step(loss)
    progress.close()
    return losses


def build(cfg, task, device):
    """The model, with ImageNet or `init_from` weights as the config says, on `device`."""
    torch.manual_seed(cfg["seed"])
    fresh = cfg["init_from"] is None  # ImageNet weights only for a run that does not inherit any
    model = build_model(cfg["model"], task.num_classes, cfg["head_width"], cfg["score_relu"],
                        cfg["pretrained"] and fresh, cfg["weights_path"] if fresh else None)
    if not fresh:
        source = Path(cfg["init_from"])
        path = RunDir(source).checkpoint("best") if source.is_dir() else source
        state = load_checkpoint(path)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError:
            raise ConfigError(f"init_from: {path} holds a {state['params']['model']} model that does "
                              f"not fit {cfg['model']} with these options") from None
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if cfg["channels_last"] else model


def check_resumable(state, cfg, world, extend, path):
    """Refuse a resume that would not continue the same run, naming every difference."""
    saved = state["params"]
    diff = [f"{k}: {saved.get(k)!r} -> {cfg[k]!r}" for k in cfg
            if k not in WHERE and k != "epochs" and saved.get(k) != cfg[k]]
    if state.get("world_size", 1) != world:
        diff.append(f"world size: {state.get('world_size', 1)} -> {world}")
    if diff:
        raise CheckpointError(f"cannot resume {path}: parameters differ from the checkpoint's: "
                              + "; ".join(diff))
    if extend and cfg["epochs"] <= saved["epochs"]:
        raise CheckpointError(f"--extend needs more epochs than the {saved['epochs']} planned; "
                              f"got epochs {cfg['epochs']}")
    if not extend and cfg["epochs"] != saved["epochs"]:
        raise CheckpointError(f"cannot resume {path}: epochs {saved['epochs']} -> {cfg['epochs']}; "
                              "use --resume --extend to continue as a warm restart over the new total")
    if state["epoch"] >= cfg["epochs"]:
        raise CheckpointError(f"{path} is already trained to epoch {state['epoch']} of {cfg['epochs']}")


def is_better(score, best):
    """A NaN score (a scored class absent from labels and predictions) is never better than a
    real one, and a real one always beats NaN: the best epoch never freezes on a NaN."""
    if best is None:
        return True
    if math.isnan(score):
        return False
    return math.isnan(best) or score > best


def train(cfg, resume=False, extend=False, log=print, cache_key=None):
    """Train as `cfg` says; return the run's record (also written to out_dir/metrics.json)."""
    # --- set-up ---------------------------------------------------------------------------------
    check_data(cfg)  # every rank, before any work
    device = resolve_device(cfg["device"])
    ddp = Distributed(device)
    device = ddp.local_device(device)
    precision = resolve_precision(cfg["precision"], device)
    task = make_task(cfg)
    started = time.time()
    train_set, val_set = task.load()
    if device.type == "cuda":  # keep the uint8 training data on the GPU when it fits easily
        free, _ = torch.cuda.mem_get_info(device)
        if train_set.images.numel() + train_set.targets.numel() < free // 4:
            train_set = Split(train_set.images.to(device), train_set.targets.to(device), train_set.ids)
    steps = len(ddp.shard(torch.arange(len(train_set.images)))) // cfg["batch_size"]
    if steps == 0:
        raise ConfigError(f"batch_size: {cfg['batch_size']} exceeds the {len(train_set.images)} "
                          "training items (per rank)")
    raw_model = build(cfg, task, device)
    model = raw_model
    if ddp.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            raw_model, device_ids=[device.index] if device.type == "cuda" else None)
    loss_fn = task.loss().to(device)
    optim = Optimisation(cfg, model.parameters(), steps, device, precision)
    predictor = Predictor(raw_model, cfg, device, precision)
    run = RunDir(cfg["out_dir"])

    # --- resume, or start a fresh run beside the old one ------------------------------------------
    if resume:
        path = run.require_resumable()
        state = load_checkpoint(path, map_location=device)
        check_resumable(state, cfg, ddp.world, extend, path)
        raw_model.load_state_dict(state["model"])
        optim.load_state_dict(state, path)
        record = state["record"]
        if extend:
            record.setdefault("schedule_replanned", []).append(
                {"after_epoch": state["epoch"], "epochs": cfg["epochs"]})
            log(f"extending {run.path} from {state['params']['epochs']} to {cfg['epochs']} epochs: "
                "warm restart, the learning-rate schedule is re-planned over the new total")
        record.update(params=cfg, complete=False)
        writer, first_epoch = run, state["epoch"] + 1
        log(f"resuming {run.path} after epoch {state['epoch']}")
    else:
        writer = run.staging() if ddp.main else run
        record = {"params": cfg, "cache_key": cache_key, "complete": False, "history": [],
                  "best": None, "snapshots": {"ids": cfg["snapshot_ids"], "tile_miou": {}},
                  "data": {"train": len(train_set.images), "val": len(val_set.images)}}
        first_epoch = 1
    record["environment"] = {**environment(device), "precision": precision, "world_size": ddp.world}
    if cache_key is not None:
        record["cache_key"] = cache_key

    try:
        if not resume and ddp.main and cfg["snapshot_ids"]:
            write_snapshot_inputs(writer, Path(cfg["data_root"]) / "validation", cfg["snapshot_ids"],
                                  task.spec)
        # --- the epochs ---------------------------------------------------------------------------
        for epoch in range(first_epoch, cfg["epochs"] + 1):
            t0 = time.time()
            order_gen = torch.Generator().manual_seed(cfg["seed"] * 1000 + epoch)  # shared by ranks
            own_seed = (cfg["seed"] * 1000 + epoch) * 64 + ddp.rank  # this rank's augmentation, dropout
            torch.manual_seed(own_seed)
            order = ddp.shard(torch.randperm(len(train_set.images), generator=order_gen))
            lr_start = optim.lr()
            losses = train_one_epoch(model, train_set, order, cfg, loss_fn, optim,
                                     torch.Generator().manual_seed(own_seed), device, precision,
                                     f"epoch {epoch}/{cfg['epochs']}")
            train_loss, bad, diverged = losses.result(ddp, precision)
            if diverged:
                kept = f"{run.checkpoint('last')} keeps epoch {epoch - 1}" if epoch > 1 else "nothing was saved"
                raise TrainingDiverged(f"training loss became {'nan' if bad else train_loss} in epoch "
                                       f"{epoch} ({bad} non-finite batches); stopped ({kept}). "
                                       "Lower lr or use fp32.")
            evaluation = evaluate_split(predictor, val_set, loss_fn, ddp)
            row = {"epoch": epoch, "train_loss": train_loss, "val_loss": evaluation.loss,
                   **task.scores(evaluation.cm), "lr_start": lr_start, "lr": optim.last_lr,
                   "seconds": round(time.time() - t0, 3)}
            if bad:
                row["nonfinite_batches"] = bad
            record["history"].append(row)
            improved = is_better(row[task.metric], record["best"] and record["best"][task.metric])
            if improved:
                record["best"] = {"epoch": epoch, task.metric: row[task.metric], "val_loss": row["val_loss"],
                                  "confusion_matrix": evaluation.cm.tolist(), **task.best_details(evaluation.cm)}
            if ddp.main:
                if cfg["snapshot_ids"] and epoch in cfg["snapshot_epochs"]:
                    record["snapshots"]["tile_miou"][str(epoch)] = write_snapshots(
                        writer, predictor, val_set, cfg["snapshot_ids"], task.spec, epoch)
                record.update(train_seconds=round(sum(r["seconds"] for r in record["history"]), 3),
                              wall_time_s=round(time.time() - started, 3))
                save_epoch(writer, record, raw_model, optim, cfg, task, precision, epoch, improved,
                           evaluation, ddp.world)
                writer.write_record(record)
                if writer is not run:  # the first epoch is saved: the new run replaces the old
                    writer = run.replace(writer)
            log(f"epoch {epoch}/{cfg['epochs']}  train_loss {train_loss:.4f}  val_loss "
                f"{row['val_loss']:.4f}  {task.metric} {row[task.metric]:.4f}  ({row['seconds']:.1f}s)")
    except BaseException:
        if writer is not run:  # nothing of the new run was saved: the old folder stays as it was
            import shutil

            shutil.rmtree(writer.path, ignore_errors=True)
        raise

    # --- done -----------------------------------------------------------------------------------
    if ddp.main:
        record["complete"] = True
        run.write_record(record)
    ddp.barrier()
    return record


def save_epoch(run, record, model, optim, cfg, task, precision, epoch, improved, evaluation, world):
    """best.pt (when improved), epoch_<k>.pt (when kept), last.pt, per-item evaluations.

    The optimiser state in last.pt is needed only while the run is in progress: after the last
    epoch it is neither written nor kept, unless keep_last (so the run can be extended)."""
    weights = {"model": compact_state_dict(model, precision), "params": cfg, "epoch": epoch,
               "num_classes": task.num_classes, "precision": precision}
    if improved:
        run.save_checkpoint("best", {**weights, "metrics": record["history"][-1]})
        run.save_evaluation("best", epoch=epoch, **evaluation.items)
    if epoch in cfg["keep_checkpoints"]:
        run.save_checkpoint(epoch, {**weights, "metrics": record["history"][-1]})
    run.save_evaluation("final", epoch=epoch, **evaluation.items)
    if epoch < cfg["epochs"] or cfg["keep_last"]:
        run.save_checkpoint("last", {**weights, "model": model.state_dict(), **optim.state_dict(),
                                     "world_size": world, "record": record})
    else:
        run.drop_checkpoint("last")
