"""Does the UI thread stay responsive while the proposal worker runs the model?

A 5 ms QTimer probe on the UI thread records how late each tick fires. We measure it twice
in the same process: idle (the window open, nothing running) and while the worker runs
lite inference over a stream of images (Propose all, with the window reloading each
image's proposals as they arrive). Target: p99 lateness <= 16 ms (one frame at 60 Hz).

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_event_loop.py [--images 24] [--size 320]

Figures on a shared 2-core machine are noisy; compare the two rows, not absolute values.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from benchmarks._report import context, figure  # noqa: E402

PROBE_MS = 5


class Probe:
    """Records the lateness of a repeating 5 ms timer."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.late_ms: list[float] = []
        self._last = 0.0
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(PROBE_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.late_ms.clear()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> list[float]:
        self._timer.stop()
        return list(self.late_ms)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.late_ms.append(max(0.0, (now - self._last) * 1000 - PROBE_MS))
        self._last = now


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(name: str, values: list[float], idle: list[float] | None = None) -> None:
    """p50, p99 and max tick lateness; compared with the idle run's when given."""
    context(f"{name}: {len(values)} timer ticks")
    for label, pick in (
        ("p50", statistics.median),
        ("p99", lambda v: percentile(v, 99)),
        ("max", max),
    ):
        figure(
            f"UI tick lateness {label} {name}",
            pick(values),
            "ms",
            baseline=pick(idle) if idle else None,
            baseline_name="idle",
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", type=int, default=320, help="image side in pixels")
    parser.add_argument("--idle-s", type=float, default=3.0)
    args = parser.parse_args()

    from _window_helpers import make_lite_checkpoint, make_project
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from core.store import ProjectStore
    from gui.main_window import MainWindow
    from gui.settings import AppSettings

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="maskloop-bench-"))
    project = make_project(tmp, count=args.images, size=(args.size, args.size))
    with ProjectStore.open(project) as store:
        checkpoint = make_lite_checkpoint(tmp / "lite.pt", store.categories())
        store.set_setting("model", str(checkpoint))
    settings = AppSettings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings, proposal_score_threshold=0.05)
    window.show()

    def run_until(condition, timeout_s: float) -> None:
        deadline = time.perf_counter() + timeout_s
        while not condition() and time.perf_counter() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)

    window.open_project(project)
    run_until(lambda: window.proposals.model_ready, 120)
    run_until(lambda: window.model_dock.state_label.text() == "idle", 120)  # first prefetches

    probe = Probe()
    loop = QEventLoop()
    QTimer.singleShot(int(args.idle_s * 1000), loop.quit)
    probe.start()
    loop.exec()
    idle = probe.stop()

    finished: list[bool] = []
    window.proposals.service.worker.batchFinished.connect(lambda *_: finished.append(True))
    window.proposals.service.worker.batchFinished.connect(loop.quit)
    count_before = window.proposals.service.worker.inference_count
    started = time.perf_counter()
    probe.start()
    window.proposals.propose_all()
    loop.exec()
    busy = probe.stop()
    elapsed = time.perf_counter() - started
    inferred = window.proposals.service.worker.inference_count - count_before

    context(
        f"{args.size}x{args.size} px, lite, device {window.model_dock.device_label.text()}; "
        "target: p99 lateness while proposing <= 16 ms"
    )
    figure("proposals while the UI is probed", inferred / elapsed, "images/s")
    summary("idle", idle)
    summary("while proposing", busy, idle)
    figure(
        "UI tick lateness p99 while proposing vs target",
        percentile(busy, 99),
        "ms",
        baseline=16.0,
        baseline_name="target",
    )
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
