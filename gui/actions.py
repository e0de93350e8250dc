"""Every command of the annotator window, in one table.

The menus, the shortcuts and the Help > Keyboard shortcuts sheet are all generated from
`ACTION_SPECS`, so a shortcut shown to the user can never drift from the one that works.
The window connects each action's `triggered` signal to its behaviour (gui/window/menus.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QWidget

from gui.icons import has_icon, icon


@dataclass(frozen=True)
class ActionSpec:
    name: str  # stable key: window code looks actions up by it
    text: str  # menu text, with & for the mnemonic
    shortcuts: tuple[str, ...] = ()  # QKeySequence strings, the first one is shown in menus
    menu: str = ""  # "File", "Edit", "View", "Image", "Tools", "Model", "Help"
    tip: str = ""  # one sentence for the status bar; the tooltip adds the shortcut
    checkable: bool = False
    group: str = ""  # exclusive QActionGroup name (tools)


ACTION_SPECS: tuple[ActionSpec, ...] = (
    # File
    ActionSpec("open_project", "&Open project…", ("Ctrl+O",), "File", "Open a .maskloop project"),
    ActionSpec(
        "open_folder",
        "Open image &folder…",
        ("Ctrl+Shift+O",),
        "File",
        "Create (or reopen) a project for a folder of images",
    ),
    ActionSpec(
        "import_coco", "&Import COCO…", ("Ctrl+I",), "File", "Import a COCO JSON file as a project"
    ),
    ActionSpec(
        "export_coco", "&Export COCO…", ("Ctrl+E",), "File", "Write the labels as a COCO JSON file"
    ),
    ActionSpec("close_project", "&Close project", ("Ctrl+W",), "File", "Back to the start page"),
    ActionSpec("quit", "&Quit", ("Ctrl+Q",), "File", "Quit MaskLoop (all edits are already saved)"),
    # Edit
    ActionSpec("undo", "&Undo", ("Ctrl+Z",), "Edit", "Undo the last edit on this image"),
    ActionSpec("redo", "&Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Edit", "Redo on this image"),
    ActionSpec(
        "accept", "&Accept selected", ("Return", "Enter"), "Edit", "Accept the selected proposals"
    ),
    ActionSpec(
        "reject",
        "Reject / &delete selected",
        ("Delete", "Backspace"),
        "Edit",
        "Reject selected proposals, delete selected annotations",
    ),
    ActionSpec(
        "accept_all",
        "Accept all above &threshold",
        ("Ctrl+A",),
        "Edit",
        "Accept every proposal whose score is at least the threshold",
    ),
    ActionSpec("fill_holes", "&Fill holes", ("F",), "Edit", "Fill the holes of the selected masks"),
    ActionSpec("next_instance", "Next &instance", ("Tab",), "Edit", "Select the next annotation"),
    ActionSpec(
        "prev_instance",
        "Previous i&nstance",
        ("Shift+Tab",),
        "Edit",
        "Select the previous annotation",
    ),
    # Image
    ActionSpec("next_image", "&Next image", ("D", "PgDown"), "Image", "Go to the next image"),
    ActionSpec("prev_image", "&Previous image", ("A", "PgUp"), "Image", "Go to the previous image"),
    ActionSpec(
        "accept_review_next",
        "Accept all, mark &reviewed, next",
        ("Ctrl+Return", "Ctrl+Enter"),
        "Image",
        "Accept proposals above the threshold, mark the image reviewed and go to the next one",
    ),
    ActionSpec(
        "toggle_reviewed",
        "&Mark reviewed",
        ("Ctrl+M",),
        "Image",
        "Mark this image reviewed (or not)",
        checkable=True,
    ),
    # View
    ActionSpec("fit", "&Fit to window", ("Ctrl+0",), "View", "Show the whole image"),
    ActionSpec(
        "zoom_100", "&Actual size (100 %)", ("Ctrl+1",), "View", "One image pixel per screen pixel"
    ),
    ActionSpec("zoom_in", "Zoom &in", ("Ctrl+=", "Ctrl++"), "View", "Zoom in"),
    ActionSpec("zoom_out", "Zoom &out", ("Ctrl+-",), "View", "Zoom out"),
    ActionSpec(
        "evaluate",
        "&Evaluate…",
        ("Ctrl+Shift+E",),
        "View",
        "Evaluate labels against predictions: COCO metrics, TP/FP/FN on the canvas, PR curves",
        checkable=True,
    ),
    ActionSpec(
        "audit",
        "Au&dit labels…",
        ("Ctrl+Shift+D",),
        "View",
        "Rank the reviewed labels most likely wrong (overlooked, wrong class, bad location, "
        "spurious) with one-key fixes: T take the model's, Del delete, C change class, K keep",
        checkable=True,
    ),
    ActionSpec(
        "next_error", "Next e&rror", ("F8",), "View", "Go to the next FP or FN of the evaluation"
    ),
    ActionSpec(
        "prev_error",
        "Previous err&or",
        ("Shift+F8",),
        "View",
        "Go to the previous FP or FN of the evaluation",
    ),
    ActionSpec(
        "stage_view",
        "&Stage view",
        ("Ctrl+Shift+S",),
        "View",
        "Show the model's two stages on this image: RPN proposals by objectness, each "
        "detection's source proposal, class scores and mask logits, NMS-removed detections",
        checkable=True,
    ),
    # Tools
    ActionSpec(
        "tool_select", "&Select", ("V",), "Tools", "Select and edit annotations", True, "tool"
    ),
    ActionSpec("tool_box", "&Box", ("B",), "Tools", "Draw a box", True, "tool"),
    ActionSpec("tool_polygon", "&Polygon", ("P",), "Tools", "Click polygon vertices", True, "tool"),
    ActionSpec(
        "tool_brush",
        "B&rush",
        ("R",),
        "Tools",
        "Paint a mask; the size is in image pixels, and a brush under 4 screen pixels is "
        "raised to 4 when the tool is chosen or the view zooms out",
        True,
        "tool",
    ),
    ActionSpec(
        "tool_eraser",
        "&Eraser",
        ("E",),
        "Tools",
        "Erase from a mask; sized like the brush (at least 4 screen pixels)",
        True,
        "tool",
    ),
    ActionSpec(
        "box_to_mask",
        "Bo&x to mask",
        ("M",),
        "Tools",
        "Drag a box: the model's mask head draws the object inside it (class: the category "
        "picked on this image, else the model's choice)",
        True,
        "tool",
    ),
    ActionSpec("brush_smaller", "Brush s&maller", ("[",), "Tools", "Make the brush smaller"),
    ActionSpec("brush_larger", "Brush &larger", ("]",), "Tools", "Make the brush larger"),
    *(
        ActionSpec(
            f"category_{n}",
            f"Category &{n}",
            (str(n),),
            "Tools",
            f"Use category {n} of the labels list (and give it to the selection)",
        )
        for n in range(1, 10)
    ),
    # Model
    ActionSpec("choose_model", "&Choose model…", ("Ctrl+Shift+M",), "Model", "Pick the detector"),
    ActionSpec(
        "propose_current",
        "Propose &this image",
        ("Ctrl+P",),
        "Model",
        "Run the detector on this image again",
    ),
    ActionSpec(
        "propose_all",
        "Propose &all",
        ("Ctrl+Shift+P",),
        "Model",
        "Run the detector on every unreviewed image",
    ),
    ActionSpec("cancel_work", "Ca&ncel background work", (), "Model", "Stop Propose all"),
    ActionSpec(
        "finetune",
        "&Fine-tune…",
        ("Ctrl+T",),
        "Model",
        "Train the model on your reviewed labels, with live curves; the result can replace it",
    ),
    ActionSpec(
        "model_history",
        "Model &history…",
        ("Ctrl+H",),
        "Model",
        "Every model this project has used, with what is known about each; switch back to one",
    ),
    ActionSpec(
        "unsure_first",
        "&Unsure images first",
        ("Ctrl+U",),
        "Model",
        "Sort unreviewed images by how unsure the model is, most informative first",
        checkable=True,
    ),
    ActionSpec(
        "loop_report",
        "&Loop report…",
        ("Ctrl+Shift+L",),
        "Model",
        "Per model version: seconds per reviewed image and per instance, and how many "
        "proposals were accepted without an edit",
    ),
    # Help
    ActionSpec("shortcuts", "&Keyboard shortcuts", ("F1",), "Help", "Show every shortcut"),
    ActionSpec("about", "&About MaskLoop", (), "Help", "Version and licence"),
)

MENU_ORDER = ("File", "Edit", "Image", "View", "Tools", "Model", "Help")
TOOL_NAMES = {
    "tool_select": "select",
    "tool_box": "box",
    "tool_polygon": "polygon",
    "tool_brush": "brush",
    "tool_eraser": "eraser",
    "box_to_mask": "box_to_mask",
}


def spec_by_name(name: str) -> ActionSpec:
    for spec in ACTION_SPECS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def shortcut_label(spec: ActionSpec) -> str:
    """How the shortcuts read for people, in this platform's notation ("Ctrl+Z, Ctrl+Y")."""
    return ", ".join(
        QKeySequence(s).toString(QKeySequence.SequenceFormat.NativeText) for s in spec.shortcuts
    )


def create_actions(parent: QWidget) -> dict[str, QAction]:
    """One QAction per spec, parented to `parent`, with shortcuts, tooltips and status tips."""
    actions: dict[str, QAction] = {}
    groups: dict[str, QActionGroup] = {}
    for spec in ACTION_SPECS:
        action = QAction(spec.text, parent)
        action.setObjectName(f"action_{spec.name}")
        if spec.shortcuts:
            action.setShortcuts([QKeySequence(s) for s in spec.shortcuts])
        # The tooltip says what the command does and how to reach it from the keyboard;
        # menus show it once the window calls QMenu.setToolTipsVisible(True).
        keys = shortcut_label(spec)
        tip = spec.tip or spec.text.replace("&", "").rstrip("…")
        action.setToolTip(f"{tip} ({keys})" if keys else tip)
        action.setStatusTip(spec.tip)
        action.setCheckable(spec.checkable)
        if spec.group:
            group = groups.setdefault(spec.group, QActionGroup(parent))
            group.setExclusive(True)
            group.addAction(action)
        if has_icon(spec.name):
            action.setIcon(icon(spec.name))
        actions[spec.name] = action
    return actions


def shortcut_rows() -> list[tuple[str, str, str]]:
    """(menu, command, keys) for every action that has a shortcut, for the shortcut sheet."""
    return [
        (spec.menu, spec.text.replace("&", ""), shortcut_label(spec))
        for spec in ACTION_SPECS
        if spec.shortcuts
    ]
