"""One training and evaluation loop for both tasks (segmentation and classification).

    hw2 train params/sample/runs.yaml --run fcn32s --set epochs=3
    torchrun --nproc_per_node 2 -m hw2lib train params/sample/runs.yaml --run fcn32s   # DDP

Data stay uint8 (N, 3, H, W) until a batch reaches the device, where it is normalised, resized
(classification `input_size`) and augmented as tensors. All randomness of an epoch (data order,
augmentation, dropout) is seeded from (seed, epoch), so a run resumed from `last.pt` after epoch k
repeats exactly what an unbroken run does, without saving RNG states.

A run writes to `out_dir`: `last.pt` (everything needed to resume), `best.pt` (weights of the
best epoch by val mIoU or accuracy), `epoch_<k>.pt` for the epochs in `keep_checkpoints`,
`metrics.json` (the one record of the run) and, for segmentation, `snapshots/` (predicted masks
of chosen tiles at chosen epochs).
"""
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import distributed as dist
from torch.nn import functional as F
from tqdm import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .classes import get_spec
from .data import load_classification, load_segmentation
from .files import write_json, write_png
from .losses import SegLoss
from .metrics import (confusion_matrix, iou_per_class, mean_iou, overall_accuracy,
                      per_class_accuracy, present_mean_iou)
from .models import build_model, model_task
from .provenance import environment

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PRECISION = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class Split:
    images: torch.Tensor  # (N, 3, H, W) uint8
    targets: torch.Tensor  # (N, H, W) uint8 masks or (N,) int64 labels
    ids: list              # tile ids or file names


def resolve_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch sees no CUDA GPU")
    return device


def load_splits(cfg):
    """(train, val, num_classes, spec or None) from `cfg['data_root']`."""
    root = Path(cfg["data_root"])
    if cfg["task"] == "segmentation":
        spec = get_spec(cfg["classes"])
        sets = [load_segmentation(root / s, spec, cfg["image_size"], cfg["limit"])
                for s in ("train", "validation")]
        splits = [Split(torch.from_numpy(s.images), torch.from_numpy(s.masks), s.ids) for s in sets]
        return splits[0], splits[1], spec.num_classes, spec
    sets = [load_classification(root / s, limit=cfg["limit"]) for s in ("train_50", "val_50")]
    splits = [Split(torch.from_numpy(s.images), torch.from_numpy(s.labels), s.names) for s in sets]
    return splits[0], splits[1], cfg["num_classes"], None


def to_input(images, device, cfg):
    """uint8 (N, 3, H, W) batch -> normalised float input on `device`."""
    x = images.to(device, non_blocking=True).float().div_(255)
    if cfg["task"] == "classification" and x.shape[-1] != cfg["input_size"]:
        x = F.interpolate(x, size=cfg["input_size"], mode="bilinear", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    x = (x - mean) / std
    return x.contiguous(memory_format=torch.channels_last) if cfg["channels_last"] else x


def augment(x, y, ops, gen, task):
    """Random flips, 90-degree rotations, scale-crops (segmentation) or pad-crops (classification)."""
    n, device = x.shape[0], x.device
    if "flip" in ops:
        m = (torch.rand(n, generator=gen) < 0.5).to(device)
        x = torch.where(m.view(-1, 1, 1, 1), x.flip(-1), x)
        if task == "segmentation":
            y = torch.where(m.view(-1, 1, 1), y.flip(-1), y)
    if "rot90" in ops and task == "segmentation":
        k = torch.randint(0, 4, (n,), generator=gen).tolist()
        x = torch.stack([xi.rot90(ki, (-2, -1)) for xi, ki in zip(x, k)])
        y = torch.stack([yi.rot90(ki, (-2, -1)) for yi, ki in zip(y, k)])
    if "scale_crop" in ops and task == "segmentation":
        h, w = x.shape[-2:]
        s = 1 + 0.5 * torch.rand(1, generator=gen).item()
        big = (round(h * s), round(w * s))
        x = F.interpolate(x, size=big, mode="bilinear", align_corners=False)
        y = F.interpolate(y[:, None].float(), size=big, mode="nearest")[:, 0].to(y.dtype)
        top = torch.randint(0, big[0] - h + 1, (1,), generator=gen).item()
        left = torch.randint(0, big[1] - w + 1, (1,), generator=gen).item()
        x, y = x[..., top:top + h, left:left + w], y[..., top:top + h, left:left + w]
    if "crop" in ops and task == "classification":
        h, w = x.shape[-2:]
        pad = max(1, h // 8)
        padded = F.pad(x, (pad, pad, pad, pad))
        offs = torch.randint(0, 2 * pad + 1, (n, 2), generator=gen).tolist()
        x = torch.stack([p[:, a:a + h, b:b + w] for p, (a, b) in zip(padded, offs)])
    return x.contiguous(), y


class Optimisation:
    """Optimizer, per-iteration LR schedule and (fp16) gradient scaler, stepped together."""

    def __init__(self, cfg, params, total_steps, device):
        self.optimizer = make_optimizer(cfg, params)
        self.schedule = make_schedule(cfg, self.optimizer, total_steps)
        self.scaler = torch.amp.GradScaler(device.type, enabled=cfg["precision"] == "fp16")

    def step(self, loss):
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step()

    def lr(self):
        return self.schedule.get_last_lr()[0]

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])


def make_optimizer(cfg, params):
    kind, lr, wd = cfg["optimizer"], cfg["lr"], cfg["weight_decay"]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg["momentum"], weight_decay=wd)
    cls = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
    return cls(params, lr=lr, weight_decay=wd)


def make_schedule(cfg, optimizer, total_steps):
    kind = cfg["schedule"]

    def factor(step):
        t = min(step / max(total_steps, 1), 1.0)
        if kind == "poly":
            return (1 - t) ** 0.9
        if kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * t))
        return 1.0
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Distributed:
    """Rank and world size; a no-op when not launched by torchrun."""

    def __init__(self, device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = 0
        if self.world > 1:
            if not dist.is_initialized():
                dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            self.rank = dist.get_rank()

    @property
    def main(self):
        return self.rank == 0

    def shard(self, indices):
        """This rank's share of `indices`, every rank the same length."""
        usable = len(indices) // self.world * self.world
        return indices[:usable][self.rank::self.world] if self.world > 1 else indices

    def sum(self, tensor):
        if self.world > 1:
            dist.all_reduce(tensor)
        return tensor


def autocast(device, precision):
    """Mixed precision as the run asks (a no-op for fp32)."""
    return torch.autocast(device.type, PRECISION[precision] or torch.float32,
                          enabled=precision != "fp32")


def predict(model, images, cfg, device, batch_size=None):
    """Logits of a uint8 image tensor, in batches, under the run's precision."""
    batch_size = batch_size or cfg["batch_size"]
    out = []
    with torch.no_grad(), autocast(device, cfg["precision"]):
        for i in range(0, len(images), batch_size):
            out.append(model(to_input(images[i:i + batch_size], device, cfg)).float())
    return torch.cat(out)


def train_epoch(model, split, order, cfg, loss_fn, optim, gen, device, desc):
    """One pass over `order` in whole batches; returns the summed batch losses (on the device,
    so the loop never waits for the GPU except to refresh the progress bar)."""
    model.train()
    bs = cfg["batch_size"]
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    bar = tqdm(range(len(order) // bs), desc=desc, leave=False, disable=not sys.stderr.isatty(),
               mininterval=1.0)
    for step in bar:
        idx = order[step * bs:(step + 1) * bs]
        x = to_input(split.images[idx.to(split.images.device)], device, cfg)
        y = split.targets[idx.to(split.targets.device)].to(device).long()
        x, y = augment(x, y, cfg["augment"], gen, cfg["task"])
        with autocast(device, cfg["precision"]):
            loss = loss_fn(model(x), y)
        optim.step(loss)
        loss_sum += loss.detach()
        if not bar.disable and step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    return loss_sum


def evaluate(model, split, cfg, loss_fn, num_classes, device, ddp):
    """Val loss and confusion matrix over `split` (sharded across ranks under DDP)."""
    model.eval()
    indices = torch.arange(len(split.images))
    indices = indices[ddp.rank::ddp.world] if ddp.world > 1 else indices
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    loss_sum = torch.zeros(2, dtype=torch.float64, device=device)  # (sum of losses, items)
    bs = cfg["batch_size"]
    for i in range(0, len(indices), bs):
        idx = indices[i:i + bs]
        logits = predict(model, split.images[idx], cfg, device)
        target = split.targets[idx].to(device).long()
        loss_sum += torch.stack([loss_fn(logits, target).double() * len(idx),
                                 torch.tensor(float(len(idx)), device=device, dtype=torch.float64)])
        cm += confusion_matrix(target, logits.argmax(1), num_classes)
    ddp.sum(cm), ddp.sum(loss_sum)
    return (loss_sum[0] / loss_sum[1]).item(), cm.cpu().numpy()


def scores(cm, cfg, spec):
    """The epoch's validation scores from its confusion matrix."""
    if cfg["task"] == "segmentation":
        ious = iou_per_class(cm, spec.scored)
        return {"val_miou": mean_iou(cm, spec.scored),
                "val_iou": dict(zip(spec.scored_names, ious.tolist())),
                "val_pixel_acc": overall_accuracy(cm)}
    return {"val_acc": overall_accuracy(cm)}


def save_snapshots(model, split, cfg, spec, epoch, out_dir, device):
    """Predicted masks of the snapshot tiles at this (1-based) epoch, and a small record."""
    pos = [split.ids.index(i) for i in cfg["snapshot_ids"]]
    model.eval()
    preds = predict(model, split.images[pos], cfg, device).argmax(1).cpu().numpy()
    folder = Path(out_dir) / "snapshots" / str(epoch)
    tile_miou = {}
    for tile, p, pred in zip(cfg["snapshot_ids"], pos, preds):
        write_png(folder / f"{tile}.png", spec.encode(pred))
        truth = split.targets[p].numpy()
        tile_miou[tile] = present_mean_iou(confusion_matrix(truth, pred, spec.num_classes), spec.scored)
    write_json(folder / "record.json", {"epoch": epoch, "ids": cfg["snapshot_ids"],
                                        "classes": spec.name, "tile_miou": tile_miou})


def save_snapshot_inputs(split, cfg, spec, out_dir):
    """The snapshot tiles' images and ground truth, once, so grids need only the run folder."""
    missing = [i for i in cfg["snapshot_ids"] if i not in split.ids]
    if missing:
        raise ValueError(f"snapshot_ids {missing} are not in the validation set")
    for tile in cfg["snapshot_ids"]:
        p = split.ids.index(tile)
        write_png(Path(out_dir) / "snapshots" / "input" / f"{tile}.png",
                  split.images[p].permute(1, 2, 0).numpy())
        write_png(Path(out_dir) / "snapshots" / "truth" / f"{tile}.png",
                  spec.encode(split.targets[p].numpy()))


def check_resumable(saved, cfg):
    ignore = {"epochs", "out_dir", "device", "snapshot_epochs"}
    diff = sorted(k for k in cfg if k not in ignore and saved.get(k) != cfg[k])
    if diff:
        raise ValueError(f"cannot resume: parameters differ from the checkpoint's: {', '.join(diff)}")


def train(cfg, resume=False, log=print):
    """Train as `cfg` says; return the metrics record (also written to out_dir/metrics.json)."""
    if model_task(cfg["model"]) != cfg["task"]:
        raise ValueError(f"model {cfg['model']!r} is a {model_task(cfg['model'])} model, "
                         f"but task is {cfg['task']!r}")
    device = resolve_device(cfg["device"])
    if cfg["precision"] == "fp16" and device.type != "cuda":
        raise ValueError("precision fp16 needs a CUDA GPU; use bf16 on the CPU")
    ddp = Distributed(device)
    if ddp.world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    out_dir = Path(cfg["out_dir"])
    started, env = time.time(), environment(device)

    train_set, val_set, num_classes, spec = load_splits(cfg)
    if device.type == "cuda":  # keep the uint8 data on the GPU when it fits easily
        free, _ = torch.cuda.mem_get_info(device)
        if train_set.images.numel() + val_set.images.numel() < free // 4:
            train_set = Split(train_set.images.to(device), train_set.targets.to(device), train_set.ids)
    if spec is not None and ddp.main:
        save_snapshot_inputs(val_set, cfg, spec, out_dir)

    torch.manual_seed(cfg["seed"])
    model = build_model(cfg["model"], num_classes, cfg["head_width"], cfg["pretrained"],
                        cfg["weights_path"]).to(device)
    if cfg["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    raw_model = model
    if ddp.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    loss_fn = (SegLoss(cfg["loss"], cfg["class_weights"], cfg["ignore_index"], cfg["lovasz_weight"])
               if cfg["task"] == "segmentation" else torch.nn.CrossEntropyLoss()).to(device)
    steps = len(ddp.shard(torch.arange(len(train_set.images)))) // cfg["batch_size"]
    if steps == 0:
        raise ValueError(f"batch_size {cfg['batch_size']} exceeds the {len(train_set.images)} "
                         "training items")
    optim = Optimisation(cfg, model.parameters(), steps * cfg["epochs"], device)
    metric = "val_miou" if cfg["task"] == "segmentation" else "val_acc"
    history, best, first_epoch = [], None, 1

    if resume:
        state = load_checkpoint(out_dir / "last.pt", map_location=device)
        check_resumable(state["params"], cfg)
        raw_model.load_state_dict(state["model"])
        optim.load_state_dict(state)
        history, best, first_epoch = state["history"], state["best"], state["epoch"] + 1
        if first_epoch > cfg["epochs"]:
            raise ValueError(f"{out_dir} is already trained to epoch {state['epoch']}; "
                             "raise epochs to continue")
        log(f"resuming {out_dir} after epoch {state['epoch']}")

    for epoch in range(first_epoch, cfg["epochs"] + 1):
        t0 = time.time()
        torch.manual_seed(cfg["seed"] * 1000 + epoch)  # dropout of this epoch
        gen = torch.Generator().manual_seed(cfg["seed"] * 1000 + epoch)  # order and augmentation
        order = ddp.shard(torch.randperm(len(train_set.images), generator=gen))
        loss_sum = train_epoch(model, train_set, order, cfg, loss_fn, optim, gen, device,
                               f"epoch {epoch}/{cfg['epochs']}")
        train_loss = ddp.sum(loss_sum).item() / (steps * ddp.world)
        if not math.isfinite(train_loss):
            kept = f"{out_dir / 'last.pt'} keeps epoch {epoch - 1}" if epoch > 1 else "nothing was saved"
            raise TrainingDiverged(f"training loss became {train_loss} in epoch {epoch}; stopped "
                                   f"({kept}). Lower lr or use fp32.")
        val_loss, cm = evaluate(model, val_set, cfg, loss_fn, num_classes, device, ddp)
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
               **scores(cm, cfg, spec), "lr": optim.lr(),
               "seconds": round(time.time() - t0, 3)}
        history.append(row)
        improved = best is None or row[metric] > best[metric]
        if improved:
            best = {"epoch": epoch, metric: row[metric], "confusion_matrix": cm.tolist()}
            if cfg["task"] == "classification":
                best["per_class_acc"] = per_class_accuracy(cm).tolist()
            else:
                best["val_iou"] = row["val_iou"]
        if ddp.main:
            if spec is not None and epoch in cfg["snapshot_epochs"]:
                save_snapshots(raw_model, val_set, cfg, spec, epoch, out_dir, device)
            weights = {"model": raw_model.state_dict(), "params": cfg, "epoch": epoch,
                       "num_classes": num_classes}
            if improved:
                save_checkpoint(out_dir / "best.pt", {**weights, "metrics": row})
            if epoch in cfg["keep_checkpoints"]:
                save_checkpoint(out_dir / f"epoch_{epoch}.pt", {**weights, "metrics": row})
            save_checkpoint(out_dir / "last.pt", {
                **weights, **optim.state_dict(), "history": history, "best": best})
        record = {"history": history, "best": best, "params": cfg,
                  "environment": env, "world_size": ddp.world,
                  "data": {"train": len(train_set.images), "val": len(val_set.images)},
                  "train_seconds": round(sum(r["seconds"] for r in history), 3),
                  "wall_time_s": round(time.time() - started, 3)}
        if ddp.main:
            write_json(out_dir / "metrics.json", record)
        log(f"epoch {epoch}/{cfg['epochs']}  train_loss {train_loss:.4f}  val_loss {val_loss:.4f}  "
            f"{metric} {row[metric]:.4f}  ({row['seconds']:.1f}s)")
    if ddp.world > 1:
        dist.barrier()
    return record
