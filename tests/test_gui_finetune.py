"""Fine-tuning from the app: the dialog driven with a scripted trainer (tests/_fake_trainer.py)
and, marked slow, with the real `maskloop train`; hot-swapping the model; the model history;
the "unsure first" image order."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from _finetune_helpers import (  # noqa: E402
    RUN_TIMEOUT_MS,
    FakeHost,
    _dialog,
    _fake_command,
    _never_called,
    _run,
    _square,
    squares_store,
)
from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QMainWindow  # noqa: E402

from core.detection.uncertainty import unsure_first_order  # noqa: E402
from core.records import Annotation, ReviewState, Source  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from gui.dialogs.finetune_dialog import FinetuneDialog  # noqa: E402
from gui.dialogs.model_history_dialog import ModelHistoryDialog  # noqa: E402
from gui.workers import training_process  # noqa: E402
from gui.workers.training_process import TrainerCommand  # noqa: E402


@pytest.fixture
def store(tmp_path):
    yield from squares_store(tmp_path)


def test_dialog_is_non_modal_and_defaults_to_reviewed_images(qtbot, store):
    dialog = _dialog(qtbot, FakeHost(store))
    assert not dialog.isModal()
    assert dialog.images_combo.currentData() is True
    assert dialog.base_model_combo.currentData() == "lite"
    assert [dialog.device_combo.itemData(i) for i in range(dialog.device_combo.count())][0] == "cpu"


def test_progress_events_grow_the_charts_and_the_run_ends_with_before_and_after_ap(qtbot, store):
    host = FakeHost(store)
    dialog = _dialog(qtbot, host, "--steps", "12", "--interval", "0.02", "--eval-every", "4")
    loss_counts: list[int] = []

    def on_event(event: dict) -> None:
        if event["event"] == "step":
            loss_counts.append(dialog.charts.point_count("loss", "total"))

    outcome = _run(qtbot, dialog, on_event)

    assert outcome.status == "finished"
    assert loss_counts == list(range(1, 13))  # one more point on the curve per step
    assert set(dialog.charts.series_names("loss")) == {"total", "loss_mask", "loss_box_reg"}
    assert dialog.charts.point_count("loss", "loss_mask") == 12
    assert dialog.charts.point_count("ap", "mask AP") == 3
    assert dialog.charts.point_count("speed", "images/s") == 12
    assert dialog.progress_bar.value() == dialog.progress_bar.maximum()
    assert "before 0.100, after 0.600 (+0.500)" in dialog.result_label.text()
    # the labels were exported to a run folder beside the project
    run_dir = dialog.data.run_dir
    assert run_dir.parent == store.path.with_name("shapes.runs")
    assert (run_dir / "train.json").is_file() and (run_dir / "val.json").is_file()
    assert (dialog.data.train_images, dialog.data.val_images) == (5, 1)
    (run,) = store.model_runs()
    assert (run.base_model, run.ap_before, run.ap_after) == ("lite", 0.1, pytest.approx(0.6))
    assert run_dir.name.startswith("ft-001-lite-")
    assert run.checkpoint_path == str(run_dir / f"{run_dir.name}.pt")
    assert Path(run.checkpoint_path).is_file()
    assert (run.extra["status"], run.extra["steps"], run.extra["epochs"]) == ("finished", 12, 10)
    assert (run.train_images, run.val_images) == (5, 1)
    assert dialog.use_model_button.isEnabled()
    assert host.models == []  # nothing is swapped until the user asks


def test_cancel_stops_the_trainer_and_keeps_the_last_checkpoint(qtbot, store):
    dialog = _dialog(
        qtbot, FakeHost(store), "--steps", "100000", "--interval", "0.02", "--eval-every", "3"
    )
    steps: list[int] = []
    assert dialog.start()
    dialog.process.trainerEvent.connect(
        lambda e: steps.append(e["step"]) if e["event"] == "step" else None
    )
    qtbot.waitUntil(lambda: dialog.process.last_checkpoint is not None, timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(dialog.runFinished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    outcome = finished.args[0]

    assert outcome.status == "cancelled"
    assert not dialog.process.is_running()
    assert steps[-1] < 100000
    assert outcome.checkpoint is not None and Path(outcome.checkpoint).read_bytes().startswith(
        b"fake"
    )
    assert (
        "cancelled" in dialog.status_label.text()
        and outcome.checkpoint in dialog.status_label.text()
    )
    (run,) = store.model_runs()
    assert run.extra["cancelled"] is True
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_a_trainer_that_ignores_cancel_is_killed_after_the_grace_period(qtbot, store, monkeypatch):
    monkeypatch.setattr(training_process, "CANCEL_GRACE_MS", 300)
    dialog = _dialog(
        qtbot,
        FakeHost(store),
        "--steps",
        "100000",
        "--interval",
        "0.02",
        "--eval-every",
        "2",
        "--hang",
        evaluator=lambda *args, **kwargs: 0.05,
    )
    # A pretrained base: its AP before is worth measuring (lite from scratch has none).
    dialog.base_model_combo.setCurrentIndex(dialog.base_model_combo.findData("r50-fpn-v2"))
    assert dialog.start()
    qtbot.waitUntil(lambda: dialog.process.last_checkpoint is not None, timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(dialog.runFinished, timeout=RUN_TIMEOUT_MS) as finished:
        dialog.cancel()
    outcome = finished.args[0]
    assert outcome.status == "cancelled"
    assert outcome.exit_code is None  # killed, not exited
    assert outcome.checkpoint is not None and Path(outcome.checkpoint).is_file()
    assert outcome.best_segm_ap is not None  # from the last checkpoint event
    # no "done" event carried ap_before: it is measured, then the run is recorded
    qtbot.waitUntil(lambda: len(store.model_runs()) == 1, timeout=RUN_TIMEOUT_MS)
    assert store.model_runs()[0].ap_before == 0.05, dialog.result_label.text()


def test_trainer_crash_is_reported_and_the_session_goes_on(qtbot, store):
    dialog = _dialog(
        qtbot, FakeHost(store), "--steps", "50", "--interval", "0.01", "--fail-at", "3"
    )
    outcome = _run(qtbot, dialog)
    assert outcome.status == "failed"
    assert "Out of memory at step 3" in outcome.message
    assert "CUDA out of memory" in outcome.message  # the stderr tail is shown too
    assert "annotations are safe" in dialog.status_label.text()
    assert store.model_runs() == []
    assert not dialog.use_model_button.isEnabled()
    assert dialog.start_button.isEnabled()
    assert store.image_count() == 6  # the GUI thread's store is untouched and still works


def test_a_trainer_that_cannot_start_is_a_failed_run(qtbot, store, tmp_path):
    def missing(data, options):
        return TrainerCommand(str(tmp_path / "no-such-python"), ["train"])

    dialog = FinetuneDialog(FakeHost(store), trainer_command=missing, ap_evaluator=_never_called)
    qtbot.addWidget(dialog)
    outcome = _run(qtbot, dialog)
    assert outcome.status == "failed"
    assert "could not be started" in outcome.message


def test_too_few_reviewed_images_explains_instead_of_starting(qtbot, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    with ProjectStore.create(tmp_path / "empty.maskloop", images) as empty:
        dialog = _dialog(qtbot, FakeHost(empty))
        with qtbot.waitSignal(dialog.startFailed, timeout=RUN_TIMEOUT_MS):
            assert dialog.start()  # the export runs in a worker; its verdict comes later
        assert "Review more images" in dialog.status_label.text()
        assert dialog.process is None and not dialog.is_running()
        assert dialog.start_button.isEnabled()
        assert list((tmp_path / "empty.runs").iterdir()) == []  # no empty run folder kept


def test_missing_ap_before_is_measured_off_the_gui_thread(qtbot, store):
    calls = []

    def evaluator(model, val_json, images_dir, *, device, should_stop):
        calls.append(
            (
                model,
                Path(val_json).name,
                device,
                threading.current_thread() is threading.main_thread(),
            )
        )
        return 0.25

    dialog = _dialog(
        qtbot, FakeHost(store), "--steps", "4", "--interval", "0.01", "--eval-every", "2",
        "--omit-ap-before", evaluator=evaluator,
    )  # fmt: skip
    dialog.base_model_combo.setCurrentIndex(dialog.base_model_combo.findData("r50-fpn-v2"))
    with qtbot.waitSignal(dialog.runRecorded, timeout=RUN_TIMEOUT_MS) as recorded:
        assert dialog.start()
    assert calls == [("r50-fpn-v2", "val.json", "cpu", False)]
    assert recorded.args[0].ap_before == 0.25
    assert "before 0.250" in dialog.result_label.text()


def test_a_model_trained_from_scratch_has_no_ap_before_to_measure(qtbot, store):
    dialog = _dialog(
        qtbot, FakeHost(store), "--steps", "4", "--interval", "0.01", "--eval-every", "2",
        "--omit-ap-before",
    )  # fmt: skip  # the default evaluator fails the test if it is called
    assert dialog.base_model_combo.currentData() == "lite"
    with qtbot.waitSignal(dialog.runRecorded, timeout=RUN_TIMEOUT_MS) as recorded:
        assert dialog.start()
    assert recorded.args[0].ap_before is None
    assert "Trained from scratch" in dialog.result_label.text()


def test_use_this_model_swaps_the_model_and_refreshes_proposals(qtbot, store):
    host = FakeHost(store)
    dialog = _dialog(qtbot, host, "--steps", "4", "--interval", "0.01", "--eval-every", "2")
    outcome = _run(qtbot, dialog)
    with qtbot.waitSignal(dialog.modelApplied) as applied:
        qtbot.mouseClick(dialog.use_model_button, Qt.MouseButton.LeftButton)
    assert host.models == [outcome.checkpoint] == [applied.args[0]]
    assert host.refreshes == 1
    assert store.active_model() == outcome.checkpoint


def _annotation_rows(store: ProjectStore, image_ids: list[int]) -> list[tuple]:
    marks = ",".join("?" * len(image_ids))
    return store._conn.execute(
        f"SELECT * FROM annotations WHERE image_id IN ({marks}) ORDER BY id", image_ids
    ).fetchall()


def _perturbed_checkpoint(source: Path, target: Path) -> Path:
    """A second, different model: the same checkpoint with its class scores shifted."""
    import torch

    from core.detection.checkpoint import load_checkpoint, save_checkpoint

    state_dict, meta = load_checkpoint(source)
    torch.manual_seed(1)
    state_dict = {
        k: v + 0.5 * torch.randn_like(v) if "box_predictor" in k else v
        for k, v in state_dict.items()
    }
    return save_checkpoint(target, state_dict, meta)


def test_hot_swap_replaces_unreviewed_proposals_and_never_touches_reviewed_labels(qtbot, tmp_path):
    from _window_helpers import make_lite_checkpoint, make_project

    from core.detection.detector import Detector
    from core.detection.proposals import propose_images

    project = make_project(tmp_path / "p", count=4)
    with ProjectStore.open(project) as store:
        old_model = make_lite_checkpoint(tmp_path / "old.pt", store.categories())
        old_detector = Detector.load(str(old_model), device="cpu")
        propose_images(store, old_detector, [3, 4], score_threshold=0.05)
        for image_id in (1, 2):  # reviewed: model labels in every state, and a hand-made one
            for state, score in (
                (ReviewState.ACCEPTED, 0.9),
                (ReviewState.REJECTED, 0.2),
                (ReviewState.PROPOSED, 0.5),
            ):
                store.add_annotation(
                    Annotation(
                        image_id,
                        1,
                        (2.0, 3.0, 9.0, 9.0),
                        source=Source.MODEL,
                        score=score,
                        state=state,
                    )
                )
            store.add_annotation(
                Annotation(image_id, 2, (4.0, 4.0, 20.0, 20.0), segmentation=_square())
            )
            store.set_reviewed(image_id)
        reviewed_before = _annotation_rows(store, [1, 2])
        unreviewed_before = _annotation_rows(store, [3, 4])
        assert unreviewed_before  # the random model proposes something at 0.05
        new_model = _perturbed_checkpoint(old_model, tmp_path / "new.pt")

        host = FakeHost(store, propose=True)
        dialog = _dialog(
            qtbot, host, "--steps", "4", "--interval", "0.01", "--eval-every", "2",
            "--copy-from", str(new_model),
        )  # fmt: skip
        outcome = _run(qtbot, dialog)
        qtbot.mouseClick(dialog.use_model_button, Qt.MouseButton.LeftButton)

        assert host.models == [outcome.checkpoint]
        assert _annotation_rows(store, [1, 2]) == reviewed_before  # byte for byte
        unreviewed_after = _annotation_rows(store, [3, 4])
        assert unreviewed_after and unreviewed_after != unreviewed_before
        kinds = store._conn.execute(
            "SELECT DISTINCT source, state FROM annotations WHERE image_id IN (3, 4)"
        ).fetchall()
        assert kinds == [("model", "proposed")]
        new_key = host.detector.model_key
        assert new_key != old_detector.model_key
        assert [store.proposals_model(i) for i in (1, 2, 3, 4)] == [None, None, new_key, new_key]


def _history_store(store: ProjectStore, tmp_path: Path) -> dict:
    """A project that started from the demo checkpoint and was fine-tuned four times."""
    runs = store.path.with_name("shapes.runs")
    files = {
        name: tmp_path / name
        for name in ("demo-lite.pt", "ft-001.pt", "ft-002.pt", "ft-003.pt", "ft-004.pt")
    }
    for name, path in files.items():
        if name.startswith("ft-"):  # as the dialog writes them: runs/<run name>/<run name>.pt
            stem = name.removesuffix(".pt")
            path = files[name] = runs / stem / f"{stem}.pt"
            path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
    store.record_model_loaded("lite")
    store.record_model_loaded(str(files["demo-lite.pt"]))

    def run(n: int, base: str, ap_before, ap_after, status: str, **extra):
        stem = f"ft-00{n}"
        return store.add_model_run(
            base_model=base, checkpoint_path=str(files[f"{stem}.pt"]), train_images=3 + n,
            val_images=1, ap_before=ap_before, ap_after=ap_after,
            extra={"run_name": stem, "status": status, "cancelled": status == "cancelled", **extra},
        )  # fmt: skip

    first = run(1, str(files["demo-lite.pt"]), 0.0, 0.3, "finished", epochs=10, steps=40)
    second = run(2, str(files["ft-001.pt"]), 0.3, 0.5, "finished", minutes=5.0, steps=25)
    gone = run(3, "lite", None, 0.1, "finished")
    unmeasured = run(4, "lite", None, None, "cancelled")
    files["ft-003.pt"].unlink()
    store.record_model_loaded(str(files["ft-002.pt"]))
    return {"first": first, "second": second, "gone": gone, "unmeasured": unmeasured, **files}


def test_model_history_lists_every_model_the_project_used(qtbot, store, tmp_path):
    _history_store(store, tmp_path)
    host = FakeHost(store)
    dialog = ModelHistoryDialog(host)
    qtbot.addWidget(dialog)
    rows = [
        [dialog.table.item(r, c).text() for c in range(dialog.table.columnCount())]
        for r in range(dialog.table.rowCount())
    ]
    by_name = {row[0]: row for row in rows}
    assert set(by_name) == {"ft-004", "ft-003", "ft-002", "ft-001", "demo-lite.pt", "lite"}
    assert by_name["lite"][1:3] == ["pretrained", ""]
    assert by_name["demo-lite.pt"][1] == "checkpoint" and by_name["demo-lite.pt"][8] == "present"
    assert by_name["ft-001"][1:3] == ["fine-tuned", "demo-lite.pt"]
    assert by_name["ft-001"][4:8] == ["4", "40 steps (10 epochs)", "0.000 → 0.300", "finished"]
    assert by_name["ft-002"][2] == "ft-001.pt" and by_name["ft-002"][5] == "25 steps (5 min)"
    assert by_name["ft-003"][8] == "missing"
    assert by_name["ft-004"][6:8] == ["n/a → n/a", "cancelled"]
    current = rows.index(by_name["ft-002"])
    assert dialog.table.item(current, 0).font().bold()  # the model in use
    assert "ft-002.pt" in dialog.current_label.text()


def test_use_this_model_is_off_with_the_reason_for_missing_unmeasured_or_current_models(
    qtbot, store, tmp_path
):
    made = _history_store(store, tmp_path)
    dialog = ModelHistoryDialog(FakeHost(store))
    qtbot.addWidget(dialog)
    dialog.select_run(made["gone"].id)
    assert not dialog.use_button.isEnabled()
    assert "missing" in dialog.use_button.toolTip() and "ft-003.pt" in dialog.use_button.toolTip()
    dialog.select_run(made["unmeasured"].id)
    assert not dialog.use_button.isEnabled()
    assert "cancelled before its first evaluation" in dialog.use_button.toolTip()
    dialog.select_run(made["second"].id)
    assert not dialog.use_button.isEnabled() and "in use" in dialog.use_button.toolTip()
    dialog.select_run(made["first"].id)
    assert dialog.use_button.isEnabled()


def test_model_history_switches_back_to_the_starting_model_or_an_earlier_run(
    qtbot, store, tmp_path
):
    made = _history_store(store, tmp_path)
    host = FakeHost(store)
    dialog = ModelHistoryDialog(host)
    qtbot.addWidget(dialog)
    dialog.select_model(str(made["demo-lite.pt"]))
    with qtbot.waitSignal(dialog.modelApplied) as applied:
        qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert host.models == [str(made["demo-lite.pt"])] == [applied.args[0]]
    assert store.active_model() == str(made["demo-lite.pt"])
    selected = dialog.selected_entry()
    assert selected.model == str(made["demo-lite.pt"])  # still selected after the reload
    assert not dialog.use_button.isEnabled()  # now in use
    dialog.select_run(made["first"].id)
    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert host.models[-1] == made["first"].checkpoint_path
    assert host.refreshes == 2


class _ImageList:
    """What FinetuneController needs of the image list: a sort key and the uncertainties."""

    def __init__(self) -> None:
        self.keys: list = []
        self.uncertainty: dict[int, float] | None = None

    def set_sort_key(self, key) -> None:
        self.keys.append(key)

    def set_uncertainty(self, scores) -> None:
        self.uncertainty = scores


def test_finetune_controller_sorts_unsure_first_and_keeps_one_dialog(qtbot, store):
    from PySide6.QtGui import QAction

    from gui.window.finetune import FinetuneController

    parent = QMainWindow()
    qtbot.addWidget(parent)
    image_list = _ImageList()
    actions = [QAction(name, parent) for name in ("finetune", "history", "unsure")]
    actions[2].setCheckable(True)
    controller = FinetuneController(
        dialog_parent=parent,
        host=FakeHost(store),
        image_list=image_list,  # type: ignore[arg-type]
        finetune_action=actions[0],
        history_action=actions[1],
        unsure_first_action=actions[2],
    )
    for image_id, score in ((1, 0.9), (2, 0.5), (3, 0.7)):
        store.set_reviewed(image_id, False)
        proposal = Annotation(
            image_id, 1, (0, 0, 2, 2), source=Source.MODEL, score=score, state=ReviewState.PROPOSED
        )
        store.replace_proposals(image_id, [proposal], "m")

    actions[2].setChecked(True)
    key = image_list.keys[-1]
    assert sorted(range(1, 7), key=key) == [2, 3, 1, 4, 5, 6] == unsure_first_order(store)
    assert image_list.uncertainty is not None and image_list.uncertainty[2] == pytest.approx(1.0)
    assert store.get_setting("image_order") == "unsure_first"
    actions[2].setChecked(False)
    assert image_list.keys[-1] is None and image_list.uncertainty is None

    dialog = controller.show_finetune()
    assert dialog is controller.show_finetune()  # one dialog per window, kept while it trains
    assert dialog.isVisible() and not dialog.isModal()
    history = controller.show_history()
    assert history is not None and history.isVisible()


def test_the_real_main_window_offers_fine_tuning_in_its_model_menu(qtbot, tmp_path):
    main_window = pytest.importorskip("gui.main_window")
    from gui.settings import AppSettings

    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    window = main_window.MainWindow(settings)
    qtbot.addWidget(window)
    texts = [a.text().replace("&", "") for a in window.menus.model_menu.actions()]
    assert "Fine-tune…" in texts and "Model history…" in texts and "Unsure images first" in texts
    assert not window.finetune.unsure_first_action.isEnabled()  # until a project is open


@pytest.mark.slow
def test_real_lite_training_through_the_dialog_measures_before_after_and_hot_swaps(qtbot, tmp_path):
    from core.coco.importer import import_coco
    from core.demo.shapes import generate_shapes_dataset

    coco = generate_shapes_dataset(tmp_path / "data", n_images=7, seed=0, min_size=64, max_size=80)
    with ProjectStore.create(tmp_path / "shapes.maskloop", tmp_path / "data" / "images") as store:
        import_coco(coco, store)  # imported ground truth arrives reviewed
        store.set_reviewed(7, False)
        host = FakeHost(store, propose=True)
        dialog = FinetuneDialog(host)  # the real `maskloop train` and the real evaluation
        qtbot.addWidget(dialog)
        dialog.epochs_spin.setValue(2)
        steps: list[int] = []
        with qtbot.waitSignal(dialog.runRecorded, timeout=120_000) as recorded:
            assert dialog.start()
            dialog.process.trainerEvent.connect(
                lambda e: steps.append(e["step"]) if e["event"] == "step" else None
            )

        assert dialog.outcome.status == "finished", dialog.outcome.message
        assert steps == [1, 2] and dialog.charts.point_count("loss", "total") == 2
        assert dialog.charts.point_count("ap", "mask AP") >= 1
        run = recorded.args[0]
        assert (run.train_images, run.val_images) == (5, 1)  # image 7 is not reviewed
        assert run.ap_before is None  # lite from scratch: no model before to measure
        assert run.ap_after is not None and Path(run.checkpoint_path).is_file()
        reviewed_before = _annotation_rows(store, [1, 2, 3, 4, 5, 6])
        qtbot.mouseClick(dialog.use_model_button, Qt.MouseButton.LeftButton)
        assert store.proposals_model(7) == host.detector.model_key
        assert _annotation_rows(store, [1, 2, 3, 4, 5, 6]) == reviewed_before


def test_use_this_model_in_the_real_window_re_proposes_every_unreviewed_image(qtbot, tmp_path):
    """End to end through MainWindow: its proposal worker loads the new checkpoint in its
    thread and re-proposes all unreviewed images (not just the ones around the current one)."""
    main_window = pytest.importorskip("gui.main_window")
    from _window_helpers import make_lite_checkpoint, make_project

    from gui.settings import AppSettings

    # more unreviewed images than the window prefetches around the current one (3)
    project = make_project(tmp_path / "p", count=8, size=(64, 48))
    with ProjectStore.open(project) as setup:
        old_model = make_lite_checkpoint(tmp_path / "old.pt", setup.categories())
        setup.set_setting("model", str(old_model))
        for image_id in (7, 8):  # two reviewed images to train and validate on
            setup.add_annotation(Annotation(image_id, 1, (1.0, 1.0, 9.0, 9.0), segmentation=None))
            setup.set_reviewed(image_id)
    new_model = _perturbed_checkpoint(old_model, tmp_path / "new.pt")
    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    window = main_window.MainWindow(settings, proposal_score_threshold=0.3)
    qtbot.addWidget(window)
    window.show()
    assert window.open_project(project)
    store = window.store
    qtbot.waitUntil(lambda: store.proposals_model(1) is not None, timeout=RUN_TIMEOUT_MS)
    old_key = store.proposals_model(1)
    reviewed_before = _annotation_rows(store, [7, 8])

    dialog = window.finetune.show_finetune()
    dialog._trainer_command = _fake_command(
        "--steps", "2", "--interval", "0.01", "--eval-every", "1", "--copy-from", str(new_model)
    )
    _run(qtbot, dialog)
    qtbot.mouseClick(dialog.use_model_button, Qt.MouseButton.LeftButton)

    def all_unreviewed_re_proposed() -> bool:
        keys = {store.proposals_model(i) for i in range(1, 7)}
        return len(keys) == 1 and None not in keys and old_key not in keys

    qtbot.waitUntil(all_unreviewed_re_proposed, timeout=RUN_TIMEOUT_MS)
    assert store.active_model() == dialog.outcome.checkpoint
    assert _annotation_rows(store, [7, 8]) == reviewed_before
    window.close()


def test_a_reopened_dialog_starts_from_the_model_in_use_now(qtbot, store, tmp_path):
    """After "Use this model" (or any switch) the dialog, shown again without restarting,
    offers and trains from the new model, not the one in use when it was first built."""
    first, second = tmp_path / "demo-lite.pt", tmp_path / "ft-001-lite.pt"
    for path in (first, second):
        path.write_bytes(b"x")
    host = FakeHost(store)
    host.apply_model(str(first))
    dialog = _dialog(qtbot, host)
    assert dialog.base_model_combo.currentText() == "Current model (demo-lite.pt)"
    assert dialog.train_options().base_model == str(first)
    dialog.hide()

    host.apply_model(str(second))
    dialog.show()
    assert dialog.base_model_combo.currentText() == "Current model (ft-001-lite.pt)"
    assert dialog.train_options().base_model == str(second)
    labels = [dialog.base_model_combo.itemText(i) for i in range(dialog.base_model_combo.count())]
    assert labels == [
        "Current model (ft-001-lite.pt)",
        "lite (from scratch)",
        "r50-fpn-v2 (COCO-pretrained)",
        "Checkpoint file…",
    ]


def test_a_run_trains_from_the_model_in_use_when_it_starts(qtbot, store, tmp_path):
    """Even without the dialog being shown again, Start reads the model in use at that moment."""
    first, second = tmp_path / "a.pt", tmp_path / "b.pt"
    for path in (first, second):
        path.write_bytes(b"x")
    host = FakeHost(store)
    host.apply_model(str(first))
    dialog = _dialog(qtbot, host, "--steps", "2", "--interval", "0.01", "--eval-every", "1")
    host.apply_model(str(second))  # e.g. Model history > Use this model, dialog left open
    _run(qtbot, dialog)
    assert dialog.options.base_model == str(second)
    assert store.model_runs()[0].base_model == str(second)


def _gate_export(monkeypatch, release: threading.Event) -> list[tuple[int, int]]:
    """Make the worker's export wait at its first progress report until `release` is set
    (by the UI thread), so what the UI does meanwhile is seen while the export runs."""
    from core.training import finetune_data
    from gui.workers import evaluation_task

    reported: list[tuple[int, int]] = []
    waited: list[bool] = []

    def gated(*args, progress, **kwargs):
        def report(done: int, total: int) -> None:
            reported.append((done, total))
            progress(done, total)
            if not waited:
                waited.append(release.wait(RUN_TIMEOUT_MS / 1000))
                assert waited[0], "the UI thread never ran while the export was going on"

        return finetune_data.export_finetune_run(*args, progress=report, **kwargs)

    monkeypatch.setattr(evaluation_task, "export_finetune_run", gated)
    return reported


@pytest.fixture
def big_store(tmp_path):
    """A project of a few hundred labels (30 reviewed images x 10 squares)."""
    from test_finetune_export import make_project

    with ProjectStore.open(make_project(tmp_path)) as s:
        yield s


def test_the_export_runs_off_the_ui_thread_with_progress(qtbot, big_store, monkeypatch):
    from PySide6.QtCore import QTimer

    ticked = threading.Event()
    reported = _gate_export(monkeypatch, ticked)
    dialog = _dialog(qtbot, FakeHost(big_store), "--steps", "2", "--interval", "0.01")
    bar_values: list[int] = []
    dialog.progress_bar.valueChanged.connect(bar_values.append)
    timer = QTimer()
    timer.setInterval(0)
    ticks_while_exporting: list[bool] = []

    def tick() -> None:  # the UI thread handles a timer: it is not stuck in the export
        ticks_while_exporting.append(dialog.is_exporting())
        if reported:
            ticked.set()

    timer.timeout.connect(tick)
    timer.start()
    with qtbot.waitSignal(dialog.runFinished, timeout=RUN_TIMEOUT_MS):
        assert dialog.start()
        assert dialog.is_exporting() and dialog.cancel_button.isEnabled()
    timer.stop()

    assert any(ticks_while_exporting)
    total = 300
    assert len(reported) > 10 and reported[-1] == (total, total)
    assert 1000 in bar_values and any(0 < v < 1000 for v in bar_values)  # the bar moved
    assert dialog.data.train_annotations + dialog.data.val_annotations == total
    assert dialog.outcome.status == "finished"


def test_cancel_during_the_export_leaves_no_run_folder(qtbot, big_store, monkeypatch):
    clicked = threading.Event()
    reported = _gate_export(monkeypatch, clicked)
    dialog = _dialog(qtbot, FakeHost(big_store), "--steps", "2", "--interval", "0.01")
    finished: list = []
    dialog.runFinished.connect(finished.append)
    with qtbot.waitSignal(dialog.startFailed, timeout=RUN_TIMEOUT_MS) as failed:
        assert dialog.start()
        qtbot.waitUntil(lambda: bool(reported), timeout=RUN_TIMEOUT_MS)
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        clicked.set()
    assert failed.args == ["cancelled"]
    assert "no run folder was kept" in dialog.status_label.text()
    assert list(big_store.path.with_name("big.runs").iterdir()) == []
    assert dialog.process is None and finished == [] and big_store.model_runs() == []
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_a_first_model_trains_in_the_background_and_proposes_without_a_click(qtbot, tmp_path):
    """The demo's path: the window is open at once with no model; the first model trains in
    the fine-tune dialog's process and, once recorded, proposes for every unreviewed image."""
    main_window = pytest.importorskip("gui.main_window")
    from _window_helpers import make_lite_checkpoint, make_project

    from gui.settings import AppSettings

    project = make_project(tmp_path / "p", count=6, size=(64, 48))
    with ProjectStore.open(project) as setup:
        trained = make_lite_checkpoint(tmp_path / "trained.pt", setup.categories())
        for image_id in (5, 6):
            setup.add_annotation(Annotation(image_id, 1, (1.0, 1.0, 9.0, 9.0), segmentation=None))
            setup.set_reviewed(image_id)
    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    window = main_window.MainWindow(settings, proposal_score_threshold=0.01)
    qtbot.addWidget(window)
    window.show()
    assert window.open_project(project)
    store = window.store
    assert window.proposals.active_model() is None
    dialog = window.finetune.show_finetune()
    dialog._trainer_command = _fake_command(
        "--steps", "2", "--interval", "0.01", "--eval-every", "1", "--copy-from", str(trained)
    )
    assert window.finetune.train_first_model(architecture="lite", seconds=30) is dialog
    assert dialog.minutes_radio.isChecked() and dialog.minutes_spin.value() == 0.5
    qtbot.waitUntil(
        lambda: all(store.proposals_model(i) is not None for i in range(1, 5)),
        timeout=RUN_TIMEOUT_MS,
    )
    assert store.active_model() == dialog.outcome.checkpoint
    assert dialog.options.base_model == "lite"
    assert not dialog.use_model_button.isEnabled()  # it is in use already
    window.close()
