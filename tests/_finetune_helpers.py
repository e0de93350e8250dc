"""The fine-tune dialog's test doubles: a ModelHost over a real store, a scripted trainer
(tests/_fake_trainer.py) and a small reviewed project."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from core.masks import encode_mask
from core.records import Annotation
from core.store import ProjectStore
from gui.dialogs.finetune_dialog import FinetuneDialog
from gui.workers.training_process import TrainerCommand

FAKE_TRAINER = Path(__file__).with_name("_fake_trainer.py")
RUN_TIMEOUT_MS = 30_000  # generous: two shared cores


class FakeHost:
    """A ModelHost (gui/model_host.py) over a real store, standing in for the window. With
    `propose=True`, apply_model loads the real detector and re-proposes every unreviewed image
    with it, synchronously, as the window's proposal worker does in its thread."""

    def __init__(self, store: ProjectStore, *, propose: bool = False) -> None:
        self._store: ProjectStore | None = store
        self.models: list[str] = []
        self.refreshes = 0
        self.detector = None
        self._propose = propose

    @property
    def store(self) -> ProjectStore | None:
        return self._store

    def active_model(self) -> str | None:
        return None if self._store is None else self._store.active_model()

    def apply_model(self, spec: str) -> None:
        self.models.append(spec)
        self._store.set_active_model(spec)
        self.refreshes += 1
        if self._propose:
            from core.detection.detector import Detector
            from core.detection.proposals import propose_images, unreviewed_image_ids

            self.detector = Detector.load(spec, device="cpu")
            propose_images(
                self._store, self.detector, unreviewed_image_ids(self._store), score_threshold=0.01
            )


def _square(size: int = 16) -> dict:
    mask = np.zeros((size, size), dtype=bool)
    mask[2:9, 3:11] = True
    return encode_mask(mask)


def squares_store(tmp_path: Path):
    """Six reviewed images with one labelled square each (the trainer here never reads pixels);
    a generator for a test module's `store` fixture."""
    images = tmp_path / "images"
    images.mkdir()
    with ProjectStore.create(tmp_path / "shapes.maskloop", images) as s:
        s.add_category("square", category_id=1)
        for image_id in range(1, 7):
            s.add_image(f"{image_id}.png", 16, 16, image_id=image_id)
            s.add_annotation(Annotation(image_id, 1, (3.0, 2.0, 8.0, 7.0), segmentation=_square()))
            s.set_reviewed(image_id)
        yield s


def _fake_command(*trainer_args: str):
    def command(data, options) -> TrainerCommand:
        args = [str(FAKE_TRAINER), "--checkpoint", str(data.checkpoint_path), *trainer_args]
        return TrainerCommand(sys.executable, args)

    return command


def _never_called(*args, **kwargs) -> float:
    raise AssertionError("the trainer reported ap_before; no evaluation should run")


def _dialog(qtbot, host, *trainer_args: str, evaluator=_never_called) -> FinetuneDialog:
    dialog = FinetuneDialog(
        host, trainer_command=_fake_command(*trainer_args), ap_evaluator=evaluator
    )
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _run(qtbot, dialog: FinetuneDialog, on_event=None):
    with qtbot.waitSignal(dialog.runFinished, timeout=RUN_TIMEOUT_MS) as finished:
        assert dialog.start()
        if on_event is not None:
            dialog.process.trainerEvent.connect(on_event)
    return finished.args[0]
