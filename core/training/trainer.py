"""`train(config, *, on_event, should_stop) -> TrainResult`: one complete training run.

The run: load the data (hold out a validation split when no `--val` file is given), build the
start model, evaluate it when fine-tuning (`ap_before`), then train with SGD, warm-up and a
cosine or step decay whose length is either `epochs` or planned for a wall-clock budget. It
evaluates a few times along the way and keeps the checkpoint with the best mask AP. A stop
request (`should_stop`, e.g. SIGINT) ends the run after the current step with a usable
checkpoint.

Under `torchrun` each process trains a DistributedDataParallel replica on its shard of the
data; rank 0 alone evaluates, writes checkpoints and reports events. Decisions that must be
identical on all ranks travel in one small all-reduce per step (`_Decision`): a stop request
(a signal reaching any rank), the time budget (rank 0's clock alone), divergence and the
re-planned length. So all ranks leave the loop at the same step with the same outcome, and no
replica ever waits for a collective the others skipped.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from core.detection.checkpoint import CheckpointMeta, save_checkpoint
from core.errors import TrainingError
from core.training import progress
from core.training.config import ARCH_DEFAULTS, FINETUNE_LR_FACTOR, TrainConfig, default_workers
from core.training.data import (
    CocoTrainingSet,
    InstanceDataset,
    LoadFailure,
    load_coco_dataset,
    split_holdout,
)
from core.training.distributed import DistContext, barrier, init_from_env, shutdown
from core.training.engine import StepRunner, ThreadChooser, evaluate_model, thread_candidates
from core.training.schedule import BudgetPlanner, LrSchedule, ScheduleSpec
from core.training.setup import (
    build_start_model,
    make_eval_loader,
    make_train_loader,
    model_sizes,
    resolve_device,
    seed_everything,
    state_dict_digest,
)
from core.training.transforms import augmentation_transforms, resolve_augmentation

# Length used for the schedule until a time budget has been planned from measured steps.
_UNPLANNED_STEPS = 10**6


@dataclass
class TrainResult:
    checkpoint: Path | None
    best_segm_ap: float | None
    best_bbox_ap: float | None
    ap_before: float | None
    cancelled: bool
    steps: int
    epochs: int
    elapsed_s: float
    train_images: int
    val_images: int
    evals: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _Decision:
    """What the loop does before a step; `_Run._agree` makes it the same on every rank."""

    stop_requested: bool  # SIGINT/SIGTERM or the caller's should_stop: ends "cancelled"
    out_of_time: bool  # the --minutes budget is spent: ends "finished"
    skip: bool  # a rank's batch had no loadable image
    diverged: bool  # too many non-finite gradients in a row: the run fails
    new_total: int | None  # a re-planned schedule length (rank 0's planner)


class _Run:
    """The state of one run; `execute` is the whole procedure."""

    def __init__(
        self,
        config: TrainConfig,
        ctx: DistContext,
        emit: Callable[[dict[str, Any]], None],
        should_stop: Callable[[], bool],
    ) -> None:
        self.config = config
        self.ctx = ctx
        self._emit = emit
        self.should_stop = should_stop
        self.device = resolve_device(config.device, ctx)
        self.started = time.monotonic()
        self.warned_files: set[str] = set()
        self.best_segm: float | None = None
        self.best_bbox: float | None = None
        self.checkpoint: Path | None = None
        self.evals: list[dict[str, Any]] = []
        self.eval_seconds: list[float] = []
        self.last_eval_step = 0

    # -- reporting -------------------------------------------------------------------
    def emit(self, event: dict[str, Any]) -> None:
        if self.ctx.is_main:
            self._emit(event)

    def warn(self, message: str) -> None:
        self.emit(progress.warning_event(message))

    def warn_failures(self, failures: list[LoadFailure]) -> None:
        for failure in failures:
            if failure.file_name not in self.warned_files:
                self.warned_files.add(failure.file_name)
                self.warn(f"skipped an image that failed to load: {failure.message}")

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    # -- setup -----------------------------------------------------------------------
    def load_data(self) -> tuple[CocoTrainingSet, CocoTrainingSet | None, str]:
        cfg = self.config
        train_set = load_coco_dataset(cfg.train_json, cfg.images_dir)
        for message in train_set.warnings:
            self.warn(message)
        if cfg.val_json is not None:
            val_set = load_coco_dataset(
                cfg.val_json,
                cfg.val_images_dir or cfg.images_dir,
                categories=train_set.categories,
                role="validation",
            )
            for message in val_set.warnings:
                self.warn(message)
            return train_set, val_set, f"from {Path(cfg.val_json).name}"
        if cfg.val_fraction <= 0:
            return train_set, None, "none"
        train_part, val_part = split_holdout(train_set, fraction=cfg.val_fraction, seed=cfg.seed)
        if val_part is None:
            self.warn("only one usable image: nothing can be held out, so AP is not measured")
            return train_part, None, "none"
        total = len(train_set.samples)
        source = f"held out {len(val_part.samples)} of {total} images"
        return train_part, val_part, source

    # -- evaluation and checkpoints --------------------------------------------------
    def evaluate(self, model: torch.nn.Module, val_set: CocoTrainingSet, step: int, epoch: int):
        began = time.monotonic()
        scores = evaluate_model(
            model,
            make_eval_loader(val_set),
            val_set.ground_truth,
            val_set.label_category_ids,
            device=self.device,
            amp=self.config.amp,
        )
        self.warn_failures(list(scores.failures))
        seconds = time.monotonic() - began
        self.eval_seconds.append(seconds)
        event = progress.eval_event(
            step=step,
            epoch=epoch,
            segm_ap=scores.segm_ap,
            bbox_ap=scores.bbox_ap,
            elapsed_s=self.elapsed(),
            seconds=seconds,
        )
        self.evals.append(event)
        self.emit(event)
        return scores

    def save(self, model: torch.nn.Module, meta: CheckpointMeta, step: int, segm_ap):
        save_checkpoint(self.config.out, model.state_dict(), meta)
        self.checkpoint = Path(self.config.out)
        self.emit(progress.checkpoint_event(path=str(self.checkpoint), step=step, segm_ap=segm_ap))

    # -- the procedure ---------------------------------------------------------------
    def execute(self) -> TrainResult:
        cfg = self.config
        cfg.validate()
        seed_everything(cfg.seed)
        train_set, val_set, val_source = self.load_data()
        start = build_start_model(
            cfg.model, train_set, min_size=cfg.min_size, max_size=cfg.max_size, hub_dir=cfg.hub_dir
        )
        model = start.model.to(self.device)
        defaults = ARCH_DEFAULTS[start.arch]
        batch_size = cfg.batch_size or defaults.batch_size
        if cfg.lr is not None:
            lr = cfg.lr
        else:
            # Linear scaling rule: the default suits the default batch; a bigger batch (or
            # DDP, which sums the batches of all processes) takes a proportionally larger step.
            lr = defaults.lr * batch_size * self.ctx.world_size / defaults.batch_size
            if start.fine_tuning and start.arch in ("lite", "lite-c5"):
                lr *= FINETUNE_LR_FACTOR
        if self.ctx.is_distributed and self.device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        min_size, max_size = model_sizes(model)

        # A --minutes run learns its length as it goes; the loop below re-decides per epoch.
        known_epochs = None if cfg.minutes is not None else (cfg.epochs or defaults.epochs)
        augmentation = resolve_augmentation(cfg.augment, known_epochs)
        dataset = InstanceDataset(train_set.samples, augmentation_transforms(augmentation))
        workers = cfg.workers if cfg.workers is not None else default_workers()
        train_loader = make_train_loader(
            dataset, batch_size=batch_size, workers=workers, seed=cfg.seed, ctx=self.ctx
        )
        steps_per_epoch = len(train_loader)
        planner: BudgetPlanner | None = None
        if cfg.minutes is not None:
            planner = BudgetPlanner(cfg.minutes * 60.0)
            total_steps = _UNPLANNED_STEPS
        else:
            epochs = cfg.epochs if cfg.epochs is not None else defaults.epochs
            total_steps = max(1, math.ceil(epochs * steps_per_epoch))
        schedule = LrSchedule(
            ScheduleSpec(base_lr=lr, warmup_steps=defaults.warmup_steps, kind=cfg.schedule),
            total_steps,
        )
        params = [p for p in model.parameters() if p.requires_grad]
        # The fused kernel updates all parameters in one pass: on a 2-core CPU lite's SGD
        # step took 4.3 ms instead of 11.1 ms (per-parameter loop), ~3% of a training step.
        optimizer = torch.optim.SGD(
            params,
            lr=lr,
            momentum=defaults.momentum,
            weight_decay=defaults.weight_decay,
            fused=self.device.type in ("cpu", "cuda"),
        )
        train_model: torch.nn.Module = model
        if self.ctx.is_distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            train_model = DistributedDataParallel(model, device_ids=device_ids)
        runner = StepRunner(
            train_model,
            optimizer,
            device=self.device,
            amp=cfg.amp,
            clip_norm=defaults.clip_norm,
            micro_batches=cfg.micro_batches,
            seed=cfg.seed,
            rank=self.ctx.rank,
        )
        threads = ThreadChooser(thread_candidates(cfg.threads, self.device.type))
        if cfg.amp and self.device.type != "cuda":
            self.warn("--amp only speeds up GPU training; training in full precision on the CPU")

        categories = [
            {"id": c.id, "name": c.name, "supercategory": c.supercategory}
            for c in train_set.categories
        ]
        self.emit(
            progress.start_event(
                total_steps=None if planner else total_steps,
                epochs=None if planner else total_steps / steps_per_epoch,
                budget_s=planner.budget_s if planner else None,
                train_images=len(train_set.samples),
                val_images=len(val_set.samples) if val_set else 0,
                val_source=val_source,
                arch=start.arch,
                base_model=start.base_model,
                device=str(self.device),
                batch_size=batch_size,
                lr=lr,
                categories=categories,
                world_size=self.ctx.world_size,
            )
        )

        def meta(step: int, epoch: int, segm: float | None, bbox: float | None) -> CheckpointMeta:
            training = {
                "base_model": start.base_model,
                "fine_tuned": start.fine_tuning,
                "train_json": str(cfg.train_json),
                "train_images": len(train_set.samples),
                "val_images": len(val_set.samples) if val_set else 0,
                "val_source": val_source,
                "steps": step,
                "epochs": epoch,
                "segm_ap": segm,
                "bbox_ap": bbox,
                "ap_before": ap_before,
                "lr": lr,
                "batch_size": batch_size * self.ctx.world_size,
                "micro_batches": cfg.micro_batches,
                "seed": cfg.seed,
                "augmentation": augmentation,
                "cpu_threads": threads.chosen if self.device.type == "cpu" else None,
                "seconds": round(self.elapsed(), 1),
                "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            return CheckpointMeta(
                arch=start.arch,
                label_category_ids=train_set.label_category_ids,
                categories=train_set.categories,
                min_size=min_size,
                max_size=max_size,
                training=training,
            )

        ap_before: float | None = None
        if start.fine_tuning and val_set is not None and self.ctx.is_main:
            ap_before = self.evaluate(model, val_set, step=0, epoch=0).segm_ap
        barrier(self.ctx)

        step = epoch = 0
        cancelled = False
        next_eval_index = 1
        images_per_s: float | None = None
        finished = False
        while not finished:
            planned = schedule.total_steps
            wanted = resolve_augmentation(
                cfg.augment, None if planned == _UNPLANNED_STEPS else planned / steps_per_epoch
            )
            if wanted != augmentation:
                # The choice changes only between epochs. Worker processes hold a copy of
                # the dataset: rebuild them.
                augmentation = wanted
                dataset.transforms = augmentation_transforms(augmentation)
                if workers > 0:
                    train_loader = make_train_loader(
                        dataset, batch_size=batch_size, workers=workers, seed=cfg.seed + epoch,
                        ctx=self.ctx,
                    )  # fmt: skip
            train_loader.set_epoch(epoch)
            steps_before_epoch = step
            for batch in train_loader.loader:
                self.warn_failures(batch.failures)
                step_began = time.monotonic()
                reserved = self._reserved_seconds(
                    cfg.evals - next_eval_index + 1, val_set, planner, batch_size
                )
                # Only rank 0's clock counts: each rank started its own at another moment,
                # and a rank that stopped alone would leave the others waiting at a barrier.
                out_of_time = False
                new_total = None
                if planner is not None and self.ctx.is_main:
                    out_of_time = step > 0 and planner.out_of_time(self.elapsed(), reserved)
                    new_total = planner.plan(step, self.elapsed(), reserved)
                decision = self._agree(
                    _Decision(
                        stop_requested=self.should_stop(),
                        out_of_time=out_of_time,
                        skip=not batch.items,
                        diverged=runner.diverged,
                        new_total=new_total,
                    )
                )
                if decision.diverged:
                    raise TrainingError(runner.divergence_message())
                if decision.new_total:
                    schedule.replan(step, decision.new_total)
                if decision.stop_requested or decision.out_of_time:
                    # Running out of the budget is how a --minutes run ends, not a cancel.
                    cancelled = decision.stop_requested
                    finished = True
                    break
                if decision.skip:
                    continue
                lr_now = schedule.lr_at(step)
                for group in optimizer.param_groups:
                    group["lr"] = lr_now
                threads.before_step()
                outcome = runner.run(batch, step)
                for message in runner.oom_events:
                    self.warn(message)
                runner.oom_events.clear()
                step += 1
                seconds = time.monotonic() - step_began
                if threads.after_step(seconds):
                    if planner is not None:
                        planner.restart()  # the trial steps ran at other speeds
                elif planner is not None:
                    planner.observe_step(seconds)
                rate = outcome.images * self.ctx.world_size / max(seconds, 1e-6)
                images_per_s = rate if images_per_s is None else 0.8 * images_per_s + 0.2 * rate
                total = schedule.total_steps
                self.emit(
                    progress.step_event(
                        step=step,
                        total_steps=None if total == _UNPLANNED_STEPS else total,
                        epoch=epoch,
                        losses=outcome.losses,
                        lr=lr_now,
                        images_per_s=images_per_s,
                        eta_s=self._eta(step, total, planner, seconds, val_set, batch_size),
                        elapsed_s=self.elapsed(),
                    )
                )
                at_end = step >= total
                if at_end or step >= math.ceil(total * next_eval_index / cfg.evals):
                    # After a re-plan several points may lie behind: evaluate once, then
                    # aim at the next point still ahead (the last one is the end).
                    while next_eval_index < cfg.evals and step >= math.ceil(
                        total * next_eval_index / cfg.evals
                    ):
                        next_eval_index += 1
                    self._evaluate_and_keep(model, val_set, step, epoch, meta)
                if at_end:
                    finished = True
                    break
            if not finished and step == steps_before_epoch:
                raise TrainingError(
                    "none of the training images could be loaded (see the warnings above); "
                    "check the images folder"
                )
            epoch += 1

        if self.ctx.is_distributed:
            # DDP keeps parameters equal, but each replica's last forward pass updated its
            # BatchNorm running statistics with its own batch: adopt rank 0's everywhere.
            for buffer in model.buffers():
                dist.broadcast(buffer, src=0)
        if not cancelled and step > self.last_eval_step:
            # Stopped by the time budget between planned evaluations: score the final weights.
            self._evaluate_and_keep(model, val_set, step, epoch, meta)
        if self.ctx.is_main and (self.checkpoint is None or (cancelled and val_set is None)):
            # Cancelled before the first evaluation (or nothing to evaluate on): the current
            # weights are the only candidate, and a usable checkpoint is promised.
            self.save(model, meta(step, epoch, None, None), step, None)
        barrier(self.ctx)
        if cfg.debug_dump_weights is not None:
            self._dump_digest(model, cfg.debug_dump_weights, step)
        self.emit(
            progress.done_event(
                checkpoint=str(self.checkpoint) if self.checkpoint else None,
                best_segm_ap=self.best_segm,
                ap_before=ap_before,
                cancelled=cancelled,
                steps=step,
                elapsed_s=self.elapsed(),
            )
        )
        return TrainResult(
            checkpoint=self.checkpoint if self.ctx.is_main else Path(cfg.out),
            best_segm_ap=self.best_segm,
            best_bbox_ap=self.best_bbox,
            ap_before=ap_before,
            cancelled=cancelled,
            steps=step,
            epochs=epoch,
            elapsed_s=self.elapsed(),
            train_images=len(train_set.samples),
            val_images=len(val_set.samples) if val_set else 0,
            evals=self.evals,
        )

    def _evaluate_and_keep(self, model, val_set, step: int, epoch: int, meta) -> None:
        self.last_eval_step = step
        if self.ctx.is_main:
            if val_set is None:
                self.save(model, meta(step, epoch, None, None), step, None)
            else:
                scores = self.evaluate(model, val_set, step, epoch)
                # Ties go to the later, longer-trained weights.
                if self.best_segm is None or scores.segm_ap >= self.best_segm:
                    self.best_segm, self.best_bbox = scores.segm_ap, scores.bbox_ap
                    self.save(
                        model,
                        meta(step, epoch, scores.segm_ap, scores.bbox_ap),
                        step,
                        scores.segm_ap,
                    )
        barrier(self.ctx)

    def _agree(self, mine: _Decision) -> _Decision:
        """The same decision on every rank: any rank's request counts, rank 0's plan wins.

        One small all-reduce per step; every rank calls it at the same step, so all ranks
        leave the loop together and meet the same collectives afterwards.
        """
        if not self.ctx.is_distributed:
            return mine
        flags = torch.tensor(
            [
                float(mine.stop_requested),
                float(mine.out_of_time),
                float(mine.skip),
                float(mine.diverged),
                float(mine.new_total or 0),
            ],
            dtype=torch.float64,
        )
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return _Decision(
            stop_requested=bool(flags[0]),
            out_of_time=bool(flags[1]),
            skip=bool(flags[2]),
            diverged=bool(flags[3]),
            new_total=int(flags[4]) or None,
        )

    def _estimated_eval_s(self, val_set, planner, batch_size: int) -> float:
        if val_set is None:
            return 0.5  # a checkpoint write
        if self.eval_seconds:
            # The latest is the best guess: an untrained model's flood of low-score
            # detections makes the first evaluations slower than later ones.
            return self.eval_seconds[-1]
        per_step = planner.seconds_per_step if planner else None
        per_image = (per_step or 0.5) / batch_size
        return 1.0 + len(val_set.samples) * per_image

    def _reserved_seconds(self, evals_left: int, val_set, planner, batch_size: int) -> float:
        if planner is None:
            return 0.0
        return max(1, evals_left) * self._estimated_eval_s(val_set, planner, batch_size) + 1.0

    def _eta(self, step, total, planner, seconds, val_set, batch_size) -> float | None:
        if planner is not None:
            return max(0.0, planner.budget_s - self.elapsed())
        per_step = seconds if step < 3 else None
        if per_step is None:
            per_step = (self.elapsed() - sum(self.eval_seconds)) / max(step, 1)
        evals_left = max(0, self.config.evals - len(self.evals))
        return (total - step) * per_step + evals_left * self._estimated_eval_s(
            val_set, planner, batch_size
        )

    def _dump_digest(self, model: torch.nn.Module, folder: Path, step: int) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        record = {"rank": self.ctx.rank, "steps": step, "sha256": state_dict_digest(model)}
        (folder / f"rank{self.ctx.rank}.json").write_text(json.dumps(record), encoding="utf-8")
        # The final weights themselves (the checkpoint holds the best evaluated ones), for
        # tests that compare runs of different shapes within a tolerance.
        torch.save(model.state_dict(), folder / f"rank{self.ctx.rank}.pt")


def train(
    config: TrainConfig,
    *,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train as `config` says; report events to `on_event`; stop early when `should_stop()`.

    Raises TrainingError (or another MaskLoopError) with a message for the user when the
    data or settings cannot work. Joins the torchrun process group when launched by torchrun.
    """
    ctx = init_from_env(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    threads_before = torch.get_num_threads()
    try:
        run = _Run(config, ctx, on_event or (lambda event: None), should_stop or (lambda: False))
        return run.execute()
    finally:
        torch.set_num_threads(threads_before)  # in-process callers keep their setting
        shutdown()
