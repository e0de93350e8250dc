"""The analyst's view at scale: UI stall while Evaluate runs, and the cost of a slider move.

Builds evaluation_scale.py's synthetic ground truth and predictions (default 5,000 images,
50,000 instances, 60,000 predictions) as COCO files, opens a window on a small project and
points the Evaluation dock at the files. Then:

- a 5 ms QTimer probe on the UI thread while "Evaluate" runs in its background task
  (lateness p50/p99/max; target p99 <= 16 ms, one frame at 60 Hz), and the task's time;
- `EvaluationController.rematch()` at several score/IoU thresholds: everything a slider move
  does on the UI thread (match, counts, table, confusion, image list, canvas marks).

    QT_QPA_PLATFORM=offscreen python benchmarks/evaluation_view.py [--images 5000 ...]

Figures on a shared 2-core machine are noisy (the task and the UI share the GIL).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gui_event_loop import Probe, summary  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--instances", type=int, default=50000)
    parser.add_argument("--predictions", type=int, default=60000)
    args = parser.parse_args()

    from _window_helpers import make_project
    from evaluation_scale import build
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from core.evaluation.matching import MatchSettings
    from gui.docks.evaluation_dock import GT_FILE, PRED_FILE
    from gui.main_window import MainWindow
    from gui.settings import AppSettings

    app = QApplication.instance() or QApplication([])
    folder = Path(tempfile.mkdtemp(prefix="maskloop-evalview-"))
    t0 = time.perf_counter()
    gt, predictions = build(args.images, args.instances, args.predictions, "segm")
    (folder / "gt.json").write_text(json.dumps(gt))
    (folder / "pred.json").write_text(json.dumps(predictions))
    print(
        f"data: {args.images} images, {args.instances} instances, {args.predictions} "
        f"predictions (built in {time.perf_counter() - t0:.1f} s)"
    )
    project = make_project(folder, 2)
    settings = AppSettings(QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings)
    window.show()
    window.open_project(project)
    window.actions["evaluate"].trigger()
    dock = window.evaluation_dock
    dock.ground_truth.set_choice(GT_FILE, str(folder / "gt.json"))
    dock.predictions.set_choice(PRED_FILE, str(folder / "pred.json"))

    def spin(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    probe = Probe()
    probe.start()
    spin(1000)
    summary("idle", probe.stop())
    probe.start()
    started = time.perf_counter()
    task = window.evaluation.evaluate()
    assert task is not None
    while not task.done:
        spin(20)
    took = time.perf_counter() - started
    summary("while Evaluate runs", probe.stop())
    result = window.evaluation.result
    if result is None:
        print(f"evaluation failed: {dock.status.text()}")
        return 1
    print(f"Evaluate (both IoU types, metrics): {took:.1f} s in the background task")
    from gui.workers.evaluation_run import match_view

    outcome = window.evaluation.outcome
    assert outcome is not None
    background, ui = [], []
    for score, iou in ((30, 50), (60, 75), (45, 55), (20, 90), (50, 50)):
        settings = MatchSettings(iou / 100, score / 100, "segm")
        t = time.perf_counter()
        view = match_view(outcome.data["segm"], settings)
        background.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        window.evaluation._apply_view(view)
        ui.append((time.perf_counter() - t) * 1000)
    print(
        "slider move: re-match in the background task "
        + ", ".join(f"{t:.0f}" for t in background)
        + " ms; then on the UI thread "
        + ", ".join(f"{t:.0f}" for t in ui)
        + " ms"
    )
    # A drag: the slider moves every 30 ms; the probe watches the UI thread throughout.
    slider = dock.score.slider
    probe.start()
    for value in range(20, 80, 3):
        slider.setValue(value)
        spin(30)
    while window.evaluation.result is None or (
        window.evaluation.result.settings.score_threshold != slider.value() / 100
    ):
        spin(20)
    summary("while dragging the score", probe.stop())
    window.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
