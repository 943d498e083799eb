"""The training loop for both tasks, read top-down: set up, start or resume, then for each epoch
train one epoch, evaluate, save.

    hw2 train params/sample/runs.yaml --run fcn8s --set epochs=3
    hw2 train params/sample/runs.yaml --run fcn8s --resume     # after a preemption or a crash
    hw2 train params/sample/runs.yaml --run fcn8s --set epochs=5 --resume --extend
    torchrun --nproc_per_node 2 -m hw2lib train params/sample/runs.yaml --run fcn8s   # DDP

All randomness of an epoch (data order, augmentation, dropout) is seeded from (seed, epoch), and
the generators' states are saved with the run: a run resumed from `last.pt`, whether it stopped
between epochs or in the middle of one, repeats exactly what an unbroken run does. Under DDP the
data order is shared and each rank draws its own augmentation and dropout.

`last.pt` (weights, optimiser, generators, record: `run_state.py`) is written at most every
`checkpoint_minutes`, at the end only with `keep_last`, and on SIGTERM or SIGINT: a signal at any
point is noted and acted on where the run can stop cleanly (after the current step, or after the
current epoch's validation and saves), then the run stops with `Preempted` (exit 75). A fresh run
is built beside its folder and swapped in once it has saved something (see `RunDir`).
`--resume --extend` continues with more epochs as a warm restart: the learning-rate schedule is
re-planned over the new total.
"""
import contextlib
import os
import socket
import time
from dataclasses import dataclass

import torch

from ..data.datasets import check_folder
from ..errors import ConfigError, Preempted, TrainingDiverged
from ..models import build_model
from ..settings import RunSettings
from ..tasks import make_task
from .checkpoint import compact_state_dict, load_checkpoint
from .inference import Predictor, evaluate_split, placed
from .preemption import StopRequest
from .provenance import run_environment
from .run_dir import RunDir
from .run_state import (checkpoint_payload, hold_kept, now_utc, resume_run, rng_states, save_state, set_rng_states,
                        start_run, swap_in, write_kept)
from .runtime import Distributed, Optimisation, ProgressBar, autocast, resolve_device, resolve_precision
from .snapshots import write_snapshots
from .transforms import Augmentation, to_input

STOP_CHECK_EVERY_DDP = 20  # under DDP the ranks agree on stopping every this many steps


class EpochLoss:
    """Sums an epoch's finite batch losses on the device (no host sync per step), and counts the
    non-finite ones and their longest run. Under fp16 GradScaler skips an overflowing batch, so
    only a persistent run of them means divergence; in fp32/bf16 one non-finite loss does."""
    FIELDS = ("sum", "finite", "bad", "streak", "longest")

    def __init__(self, device, state=None):
        for name in self.FIELDS:
            value = torch.zeros((), dtype=torch.float64) if state is None else state[name]
            setattr(self, name, value.to(device))

    def add(self, loss):
        ok = torch.isfinite(loss.detach())
        self.sum += torch.where(ok, loss.detach().double(), 0.0)
        self.finite += ok
        self.bad += ~ok
        self.streak = (self.streak + 1) * ~ok
        self.longest = torch.maximum(self.longest, self.streak)

    def state_dict(self):
        return {name: getattr(self, name).cpu() for name in self.FIELDS}

    def result(self, ddp, precision, patience=10):
        """(mean finite loss, number of non-finite batches, diverged?) over all ranks."""
        total, finite, bad = ddp.sum(torch.stack([self.sum, self.finite, self.bad])).tolist()
        longest = ddp.max(self.longest.clone()).item()
        diverged = finite == 0 or (bad > 0 and precision != "fp16") or longest >= patience
        return (total / finite if finite else float("nan")), int(bad), diverged


@dataclass(kw_only=True)
class Setup:
    """Everything a run trains with, made once (built by keyword: `model` and `raw_model` are
    both modules, and must not be swapped)."""
    settings: RunSettings
    task: object
    device: torch.device
    ddp: Distributed
    precision: str
    train_set: object
    val_set: object
    model: torch.nn.Module      # what the step calls (DDP-wrapped under torchrun)
    raw_model: torch.nn.Module  # what is saved and evaluated
    loss_fn: torch.nn.Module
    optim: Optimisation
    predictor: Predictor
    run: RunDir
    log: object
    steps: int                  # optimiser steps per epoch and rank


def initial_model(s, task, device):
    """The model, with ImageNet or `init_from` weights as the settings say, on `device`."""
    torch.manual_seed(s.train.seed)
    fresh = s.place.init_from is None  # ImageNet weights only for a run that does not inherit any
    model = build_model(s.model.model, task.num_classes, s.model.values(), pretrained=s.model.pretrained and fresh,
                        weights_path=s.place.weights_path if fresh else None)
    if not fresh:
        path = RunDir(s.place.init_from).checkpoint("kept")
        state = load_checkpoint(path)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError:
            raise ConfigError(f"init_from: {path} holds a {state['params']['model']} model that does "
                              f"not fit {s.model.model} with these options") from None
    return placed(model, device, s.train.channels_last)


def on_device_if_it_fits(split, device):
    """The split moved to the GPU when it takes less than a quarter of the free memory."""
    if device.type != "cuda":
        return split
    free, _ = torch.cuda.mem_get_info(device)
    return split.to(device) if split.images.numel() + split.targets.numel() < free // 4 else split


def check_inputs(s):
    """What needs the filesystem: the task's splits exist, the snapshot tiles are in validation,
    the init_from run is trained. Every DDP rank runs it, so all fail alike instead of some
    hanging; `hw2 check` runs it for every run of a profile."""
    task = make_task(s)
    for folder in (task.train_folder, task.val_folder):
        check_folder(folder)
    missing = task.missing_snapshot_tiles()
    if missing:
        raise ConfigError(f"snapshot_ids: {missing} not in {task.val_folder}")
    if s.place.init_from is not None and not RunDir(s.place.init_from).checkpoint("kept").is_file():
        raise ConfigError(f"init_from: {s.place.init_from} is not a trained run folder (train that run first)")


def set_up(s, log):
    check_inputs(s)  # every rank, before any work
    device = resolve_device(s.place.device)
    ddp = Distributed(device)
    device = ddp.local_device(device)
    task = make_task(s)
    train_set, val_set = (on_device_if_it_fits(split, device) for split in task.load())
    steps = len(ddp.shard(torch.arange(len(train_set.images)))) // s.train.batch_size
    if steps == 0:
        raise ConfigError(f"batch_size: {s.train.batch_size} exceeds the {len(train_set.images)} "
                          "training items (per rank)")
    precision = resolve_precision(s.train.precision, device)
    raw_model = initial_model(s, task, device)
    model = raw_model if ddp.world == 1 else torch.nn.parallel.DistributedDataParallel(
        raw_model, device_ids=[device.index] if device.type == "cuda" else None)
    return Setup(settings=s, task=task, device=device, ddp=ddp, precision=precision, train_set=train_set,
                 val_set=val_set, model=model, raw_model=raw_model, loss_fn=task.loss().to(device),
                 optim=Optimisation(s.train, model.parameters(), steps, device, precision),
                 predictor=Predictor(raw_model, s, device, precision), run=RunDir(s.place.out_dir),
                 log=log, steps=steps)


def stop_agreed(s, stop, step=None):
    """Whether a stop was asked for, on any rank. Under DDP the ranks agree after every
    STOP_CHECK_EVERY_DDP-th step (an all-reduce makes the host wait) and at every epoch's end
    (`step` None)."""
    if s.ddp.world == 1:
        return stop.requested
    if step is not None and step % STOP_CHECK_EVERY_DDP:
        return False
    return bool(s.ddp.max(torch.tensor(float(stop.requested), device=s.device)).item())


def train_one_epoch(s, state, epoch, stop):
    """One pass over the epoch's data order in whole batches (from the saved step when this epoch
    stopped part-way before); returns the epoch's `EpochLoss` and its start learning rate."""
    train, partial = s.settings.train, state.partial if epoch == state.next_epoch else None
    seed = train.seed * 1000 + epoch
    order = s.ddp.shard(torch.randperm(len(s.train_set.images), generator=torch.Generator().manual_seed(seed)))
    order = order.to(s.train_set.images.device)  # once per epoch: the steps slice it in place
    own_seed = seed * 64 + s.ddp.rank  # this rank's augmentation and dropout
    torch.manual_seed(own_seed)
    augmentation = Augmentation(s.settings.task.augment, own_seed, s.device)
    losses, first, lr_start, elapsed = EpochLoss(s.device), 0, s.optim.lr(), 0.0
    if partial is not None:  # this rank's own generators and sums (resume_run picked them)
        augmentation.load_state_dict(partial["augmentation"])
        set_rng_states(partial["rng"], s.device)
        losses = EpochLoss(s.device, partial["losses"])
        first, lr_start, elapsed = partial["step"], partial["lr_start"], partial["seconds"]
    started, bs = time.time(), train.batch_size
    s.raw_model.train()
    bar = ProgressBar(s.steps - first, f"epoch {epoch}/{train.epochs}")
    for step in range(first, s.steps):
        idx = order[step * bs:(step + 1) * bs]
        x = to_input(s.train_set.images[idx], s.device, s.task.input_size, train.channels_last)
        y = s.train_set.targets[idx].to(s.device, non_blocking=True).long()
        x, y = augmentation(x, y)
        with autocast(s.device, s.precision):
            loss = s.loss_fn(s.model(x), y)
        s.optim.step(loss)
        losses.add(loss)
        bar.step(loss)
        if step + 1 < s.steps and stop_agreed(s, stop, step + 1):
            bar.close()
            mine = {"losses": losses.state_dict(), "augmentation": augmentation.state_dict(),
                    "rng": rng_states(s.device)}
            stop_part_way(s, state, stop, {"epoch": epoch, "step": step + 1, "lr_start": lr_start,
                                           "seconds": elapsed + time.time() - started,
                                           "device_type": s.device.type, "ranks": s.ddp.gather(mine)})
    bar.close()
    if s.device.type == "cuda":
        torch.cuda.synchronize(s.device)  # the epoch's queued GPU work belongs to its time
    return losses, lr_start, elapsed + time.time() - started


def stop_part_way(s, state, stop, partial):
    """Save the epoch's partial state (every rank's generators and sums) and stop: a resume
    continues from this very step."""
    epoch = partial["epoch"]
    if s.ddp.main:
        save_state(s, state, epoch - 1, partial)
        s.run.write_record(state.record)
    s.ddp.barrier()
    raise Preempted(f"{s.run.path}: stopped by {stop.name or 'another rank'} in epoch {epoch} after "
                    f"step {partial['step']} of {s.steps}; its state is saved in last.pt. Continue "
                    "with `hw2 train ... --resume` or `hw2 runs`.")


def stop_between_epochs(s, state, stop, epoch):
    """After an epoch and its saves: a stop asked for during its last step, its validation or a
    save ends the run here, with last.pt of this epoch."""
    if epoch == s.settings.train.epochs or not stop_agreed(s, stop):
        return
    if s.ddp.main:
        save_state(s, state, epoch)
        s.run.write_record(state.record)
    s.ddp.barrier()
    raise Preempted(f"{s.run.path}: stopped by {stop.name or 'another rank'} after epoch {epoch}; its state is "
                    "saved in last.pt. Continue with `hw2 train ... --resume` or `hw2 runs`.")


def end_epoch(s, state, epoch, epoch_result):
    """Evaluate, record, and save what this epoch keeps."""
    epochs, task, record = s.settings.train.epochs, s.task, state.record
    losses, lr_start, seconds = epoch_result
    train_loss, bad, diverged = losses.result(s.ddp, s.precision)
    if diverged:
        kept = (f"{s.run.checkpoint('last')} keeps an earlier state" if s.run.checkpoint("last").is_file()
                else "no state of this run was saved")
        raise TrainingDiverged(f"training loss became {'nan' if bad else train_loss} in epoch {epoch} "
                               f"({bad} non-finite batches); stopped ({kept}). Lower lr or use fp32.")
    s.ddp.share_buffers(s.raw_model)
    t0 = time.time()
    evaluation = evaluate_split(s.predictor, s.val_set, s.loss_fn, s.ddp)
    val_seconds = time.time() - t0
    row = {"epoch": epoch, "train_loss": train_loss, "val_loss": evaluation.loss, **task.scores(evaluation.cm),
           "lr_start": lr_start, "lr": s.optim.last_lr, "seconds": round(seconds + val_seconds, 3),
           "val_seconds": round(val_seconds, 3)}
    if bad:
        row["nonfinite_batches"] = bad
    record.add(row)
    if record.keeps(row, last=epoch == epochs, so_far=state.kept_so_far()):
        hold_kept(s, state, row, evaluation.cm, evaluation.items)
    t0 = time.time()
    if s.ddp.main:
        save_epoch(s, state, epoch, evaluation)
    row["save_seconds"] = round(time.time() - t0, 3)
    s.log(f"epoch {epoch}/{epochs}  train_loss {train_loss:.4f}  val_loss {row['val_loss']:.4f}  "
          f"{task.metric} {row[task.metric]:.4f}  ({row['seconds']:.1f}s)")


def save_epoch(s, state, epoch, evaluation):
    """epoch_<k>.pt when asked for, snapshots, the final evaluation, last.pt (and the kept epoch's
    files) when due or at the end, and the record."""
    settings, writer, record = s.settings, state.writer, state.record
    if epoch in settings.train.keep_checkpoints:
        weights = compact_state_dict(s.raw_model, s.precision)
        writer.save_checkpoint(epoch, {**checkpoint_payload(s, epoch, weights), "metrics": record.history[-1]})
    writer.save_evaluation("final", epoch=epoch, **evaluation.items)
    ids = s.task.snapshot_ids
    if ids and epoch in s.task.snapshot_epochs:
        record.snapshots["tile_miou"][str(epoch)] = write_snapshots(
            writer, s.predictor, s.val_set, ids, s.task.spec, epoch)
    last = epoch == settings.train.epochs
    due = time.monotonic() - state.last_saved >= 60 * settings.place.checkpoint_minutes
    if (last and settings.place.keep_last) or (due and not last):
        save_state(s, state, epoch)
    elif last:
        write_kept(s, state)
        writer.drop_checkpoint("last")
    state.stamp_wall_time()
    writer.write_record(record)
    swap_in(s, state)


def finish(s, state):
    record = state.record
    write_kept(s, state)  # other ranks: the entry rank 0 wrote
    if s.ddp.main:
        record.complete, record.finished_at = True, now_utc()
        state.stamp_wall_time()
        s.run.write_record(record)
    s.ddp.barrier()
    return record


def train(settings, resume=False, extend=False, log=print):
    """Train as `settings` say; return the run's `RunRecord` (also out_dir/metrics.json)."""
    with StopRequest() as stop:  # from the start: a signal while setting up is not lost either
        s = set_up(settings, log)
        with s.run.lock(log) if s.ddp.main else contextlib.nullcontext():  # one lock holder per run
            state = resume_run(s, extend) if resume else start_run(s)
            state.record.environment = {**run_environment(s.device), "precision": s.precision,
                                        "world_size": s.ddp.world}
            state.record.worker = {"host": socket.gethostname(), "pid": os.getpid(), "device": str(s.device)}
            try:
                if stop_agreed(s, stop):
                    raise Preempted(f"{s.run.path}: stopped by {stop.name or 'another rank'} before it trained "
                                    "a step; nothing new to save")
                for epoch in range(state.next_epoch, settings.train.epochs + 1):
                    end_epoch(s, state, epoch, train_one_epoch(s, state, epoch, stop))
                    stop_between_epochs(s, state, stop, epoch)
            except BaseException:
                if state.writer is not s.run:  # nothing of the new run was saved: the old folder stays
                    state.writer.discard()
                raise
            return finish(s, state)
