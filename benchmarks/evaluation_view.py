"""The analyst's view at scale: UI stall while Evaluate runs and while the sliders drag.

Builds evaluation_scale.py's synthetic ground truth and predictions (default 5,000 images,
50,000 instances, 60,000 predictions) as COCO files, opens a window on a small project and
points the Evaluation dock at the files. A 5 ms QTimer probe on the UI thread records how
late each tick fires (target p99 <= 16 ms, one frame at 60 Hz), measured:

- idle (the baseline every ratio is against), and idle beside a CPU-bound child process
  that shares no lock with the window: on 2 cores what any busy process costs the UI
  thread in scheduling alone, the floor for "while Evaluate runs",
- while "Evaluate" runs in the evaluation's own process (reading, COCOeval for segm and
  bbox, the first match),
- while the score slider drags (a move every 30 ms; the process re-matches, the window
  draws each answer), then the IoU slider (re-match and, once it rests, COCOeval's curves),
- and the UI thread's own time per re-match answer (counts, table, confusion, list, canvas).

One line per figure: `name: value unit (baseline, ratio)` (benchmarks/_report.py); context lines
start with `#`.

    QT_QPA_PLATFORM=offscreen python benchmarks/evaluation_view.py [--images 5000 ...]

Before the evaluation had its own process (worker thread, same machine, 2 cores shared with
other work): Evaluate p99 50-80 ms, max 2.4-9.9 s; score drag p99 65-203 ms, max 0.8-1.4 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gui_event_loop import Probe, percentile  # noqa: E402

from benchmarks._report import context, figure  # noqa: E402

TARGET_P99_MS = 16.0


def report(name: str, late_ms: list[float], idle: list[float]) -> None:
    """p50, p99 and max of a probe's lateness, each against idle's."""
    figures = (
        ("p50", statistics.median(late_ms), statistics.median(idle)),
        ("p99", percentile(late_ms, 99), percentile(idle, 99)),
        ("max", max(late_ms), max(idle)),
    )
    for label, value, base in figures:
        figure(f"{name} {label}", value, "ms", baseline=max(base, 0.01), baseline_name="idle")
    p99 = figures[1][1]
    figure(f"{name} p99 vs target", p99, "ms", baseline=TARGET_P99_MS, baseline_name="target")


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

    from gui.docks.evaluation_dock import GT_FILE, PRED_FILE
    from gui.main_window import MainWindow
    from gui.settings import AppSettings
    from gui.window.evaluation import coco_iou_step

    app = QApplication.instance() or QApplication([])
    folder = Path(tempfile.mkdtemp(prefix="maskloop-evalview-"))
    t0 = time.perf_counter()
    gt, predictions = build(args.images, args.instances, args.predictions, "segm")
    (folder / "gt.json").write_text(json.dumps(gt))
    (folder / "pred.json").write_text(json.dumps(predictions))
    context(
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
    controller = window.evaluation
    dock.ground_truth.set_choice(GT_FILE, str(folder / "gt.json"))
    dock.predictions.set_choice(PRED_FILE, str(folder / "pred.json"))

    def spin(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    probe = Probe()
    probe.start()
    spin(2000)
    idle = probe.stop()
    burner = subprocess.Popen(
        [sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 3: pass"]
    )
    probe.start()
    spin(2500)
    beside_child = probe.stop()
    burner.wait()
    report("stall beside a CPU-bound child process", beside_child, idle)

    # The UI thread's share of the outcome's arrival (tables, metrics, curves, first match).
    arrived_ms: list[float] = []
    on_done = controller._on_done

    def timed_done(task, outcome):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        on_done(task, outcome)
        arrived_ms.append((time.perf_counter() - t) * 1000)

    controller._on_done = timed_done  # type: ignore[method-assign]

    probe.start()
    started = time.perf_counter()
    task = controller.evaluate()
    assert task is not None
    while not task.done:
        spin(20)
    took = time.perf_counter() - started
    busy = probe.stop()
    if controller.result is None:
        context(f"evaluation failed: {dock.status.text()}")
        return 1
    figure("Evaluate (both IoU types, metrics, first match), in its own process", took, "s")
    report("stall while Evaluate runs", busy, idle)
    figure(
        "stall while Evaluate runs p99",
        percentile(busy, 99),
        "ms",
        baseline=max(percentile(beside_child, 99), 0.01),
        baseline_name="beside a busy child",
    )
    if arrived_ms:
        figure(
            "UI thread to show the outcome",
            arrived_ms[0],
            "ms",
            baseline=TARGET_P99_MS,
            baseline_name="a 60 Hz frame",
        )

    # The UI thread's share of each answer: wrap the one method that shows a match.
    applied_ms: list[float] = []
    apply_view = controller._apply_view

    def timed_apply(view):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        apply_view(view)
        applied_ms.append((time.perf_counter() - t) * 1000)

    controller._apply_view = timed_apply  # type: ignore[method-assign]

    def drag(slider, values: range, settled) -> tuple[list[float], float]:  # type: ignore[no-untyped-def]
        probe.start()
        t = time.perf_counter()
        for value in values:
            slider.setValue(value)
            spin(30)
        while not settled():
            spin(20)
        return probe.stop(), time.perf_counter() - t

    score = dock.score.slider
    late, took = drag(
        score,
        range(20, 80, 3),
        lambda: (
            controller.result is not None
            and controller.result.settings.score_threshold == score.value() / 100
        ),
    )
    figure("score drag, 20 moves, until the last re-match shows", took, "s")
    report("stall while the score slider drags", late, idle)
    iou = dock.iou.slider
    late, took = drag(
        iou,
        range(50, 80, 2),
        lambda: (
            controller.result is not None
            and controller.result.settings.iou_threshold == iou.value() / 100
            and dock.pr_curves.chart.title().endswith(f"{coco_iou_step(iou.value() / 100):.2f}")
        ),
    )
    figure("IoU drag, 15 moves, until the re-match and the PR curves show", took, "s")
    report("stall while the IoU slider drags", late, idle)
    if applied_ms:
        for label, value in (("p50", statistics.median(applied_ms)), ("max", max(applied_ms))):
            figure(
                f"UI thread per re-match answer {label}",
                value,
                "ms",
                baseline=TARGET_P99_MS,
                baseline_name="a 60 Hz frame",
            )
    window.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
