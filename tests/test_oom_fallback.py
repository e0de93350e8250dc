"""Running out of GPU memory: smaller batches, then the CPU, with a message; never a crash.

There is no GPU here: the model is wrapped so that it raises torch.cuda.OutOfMemoryError,
exactly what a real out-of-memory GPU raises, for the batches it "cannot fit".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.detection.detector import Detector
from core.detection.oom import OutOfMemory, is_out_of_memory, run_with_oom_fallback


def _oom() -> torch.cuda.OutOfMemoryError:
    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_a_batch_that_does_not_fit_is_halved_until_it_does() -> None:
    sizes: list[int] = []
    said: list[str] = []

    def square(batch):
        sizes.append(len(batch))
        if len(batch) > 2:
            raise _oom()
        return [x * x for x in batch]

    results, batch_size, device = run_with_oom_fallback(
        square, list(range(7)), batch_size=8, device=torch.device("cuda"),
        to_cpu=lambda: pytest.fail("no need for the CPU"), notify=said.append,
    )  # fmt: skip
    assert results == [x * x for x in range(7)]
    assert (batch_size, device.type) == (2, "cuda")
    assert sizes == [7, 4, 2, 2, 2, 1]
    assert said == ["Out of GPU memory: retrying with batches of 4.",
                    "Out of GPU memory: retrying with batches of 2."]  # fmt: skip


def test_when_one_item_does_not_fit_the_work_moves_to_the_cpu() -> None:
    on_cpu: list[bool] = []
    said: list[str] = []

    def work(batch):
        if not on_cpu:
            raise _oom()
        return [str(x) for x in batch]

    results, batch_size, device = run_with_oom_fallback(
        work, [1, 2, 3], batch_size=2, device=torch.device("cuda"),
        to_cpu=lambda: on_cpu.append(True), notify=said.append,
    )  # fmt: skip
    assert results == ["1", "2", "3"] and on_cpu == [True]
    assert (batch_size, device.type) == (1, "cpu")
    assert "now runs on the CPU" in said[-1]


def test_out_of_memory_on_the_cpu_is_one_clear_error() -> None:
    def work(_batch):
        raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 8 GB")

    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    with pytest.raises(OutOfMemory, match="Out of memory on the CPU too"):
        run_with_oom_fallback(
            lambda b: (_ for _ in ()).throw(RuntimeError("CPU: out of memory")),
            [1], batch_size=1, device=torch.device("cpu"), to_cpu=lambda: None,
        )  # fmt: skip
    with pytest.raises(RuntimeError, match="DefaultCPUAllocator"):  # not an OOM we recognise
        run_with_oom_fallback(work, [1], batch_size=1, device=torch.device("cpu"),
                              to_cpu=lambda: None)  # fmt: skip


@pytest.fixture(scope="module")
def detector() -> Detector:
    from _detector_helpers import trained_lite_checkpoint

    return Detector.load(str(trained_lite_checkpoint()), device="cpu")


def test_the_detector_predicts_every_image_in_smaller_batches_and_says_so(
    detector: Detector, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.detection.detector as detector_module

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (64, 80, 3), dtype=np.uint8) for _ in range(3)]
    expected = detector.predict(images, batch_size=1)
    real_forward = detector_module.forward_unpasted
    batches: list[int] = []

    def one_image_gpu(model, tensors):  # noqa: ANN001, ANN202
        batches.append(len(tensors))
        if len(tensors) > 1:
            raise _oom()
        return real_forward(model, tensors)

    monkeypatch.setattr(detector_module, "forward_unpasted", one_image_gpu)
    said: list[str] = []
    detector.on_fallback = said.append
    try:
        got = detector.predict(images, batch_size=4)
        assert [[d.bbox for d in image] for image in got] == [
            [d.bbox for d in image] for image in expected
        ]
        assert batches == [3, 2, 1, 1, 1]
        assert said == ["Out of GPU memory: retrying with batches of 2.",
                        "Out of GPU memory: retrying with batches of 1."]  # fmt: skip
        detector.predict(images, batch_size=4)  # remembers what fitted: no new failures
        assert batches[5:] == [1, 1, 1] and len(said) == 2
    finally:
        detector.on_fallback = None
        detector._batch_cap = None


def test_box_to_mask_falls_back_too(detector: Detector) -> None:
    from core.detection.box_to_mask import BoxSegmenter

    segmenter = BoxSegmenter(detector)
    image = np.random.default_rng(1).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    segmenter.prepare("a", image)
    boxes = np.array([[5, 5, 30, 30], [10, 20, 60, 50], [0, 0, 20, 10]], np.float32)
    expected = segmenter.segment("a", boxes)
    real = segmenter._segment_boxes
    calls: list[int] = []

    def small(entry, rows, category_id):  # noqa: ANN001, ANN202
        calls.append(len(rows))
        if len(rows) > 1:
            raise _oom()
        return real(entry, rows, category_id)

    said: list[str] = []
    segmenter._segment_boxes = small  # type: ignore[method-assign]
    detector.on_fallback = said.append
    try:
        got = segmenter.segment("a", boxes)
    finally:
        detector.on_fallback = None
    assert [m.mask.tolist() for m in got] == [m.mask.tolist() for m in expected]
    assert calls == [3, 1, 1, 1] and said == ["Out of GPU memory: retrying with batches of 1."]


def test_the_proposal_worker_keeps_serving_after_out_of_memory(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from _window_helpers import make_lite_checkpoint, make_project, wait_until

    from core.store import ProjectStore
    from gui.workers.proposal_worker import ProposalService

    project = make_project(tmp_path, count=3)
    with ProjectStore.open(project) as store:
        checkpoint = make_lite_checkpoint(tmp_path / "lite.pt", store.categories())
    real_predict = Detector._predict_batch
    failures = {"left": 0}

    def flaky(self, batch):  # noqa: ANN001, ANN202
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("CUDA error: out of memory")  # on the CPU: cannot fall back
        return real_predict(self, batch)

    monkeypatch.setattr(Detector, "_predict_batch", flaky)
    service = ProposalService(project, score_threshold=0.01)
    try:
        with qtbot.waitSignal(service.worker.modelLoaded, timeout=60_000):
            service.load_model(str(checkpoint))
        failed: list[tuple[int, str]] = []
        service.worker.imageFailed.connect(lambda *args: failed.append(args))
        failures["left"] = 1  # fits once the batch is smaller: proposals, and a message
        with qtbot.waitSignal(service.worker.proposalsReady, timeout=30_000) as ready:
            service.focus(1, [])
        assert ready.args[0] == 1
        assert failed == [(-1, "Out of GPU memory: retrying with batches of 1.")]
        failures["left"] = 1  # batches of 1 already: does not fit alone, and no GPU to leave
        service.focus(2, [])
        wait_until(qtbot, lambda: len(failed) == 2)
        assert failed[-1][0] == 2 and "Out of memory on the CPU too" in failed[-1][1]
        with qtbot.waitSignal(service.worker.proposalsReady, timeout=30_000) as ready:
            service.focus(3, [])  # the worker lives on
        assert ready.args[0] == 3
    finally:
        service.stop()
