"""Training and fine-tuning Mask R-CNN models on COCO instance masks.

    from core.training import TrainConfig, train
    result = train(TrainConfig(train_json=..., images_dir=..., out=...), on_event=print)

Modules, in the order a run uses them: `config` (TrainConfig, per-architecture defaults),
`data` (COCO -> tv_tensors), `transforms` (augmentation), `sampler` (aspect-ratio batches),
`setup` (start model, loaders), `schedule` (warm-up, decay, time-budget planning), `engine`
(one step, evaluation), `trainer` (the run), `progress` (events and their reporters).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.training.config import TrainConfig

if TYPE_CHECKING:
    from core.training.trainer import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]


def __getattr__(name: str) -> Any:
    # The trainer pulls in torch and torchvision; import it only when it is used.
    if name in ("train", "TrainResult"):
        from core.training import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'core.training' has no attribute {name!r}")
