"""The project file's SQLite schema, its version, and the migrations between versions.

The version lives in `PRAGMA user_version`. `MIGRATIONS[n]` upgrades a version-n file to
n + 1; `migrate` runs the missing steps inside one transaction, so a file is either fully
upgraded or left as it was. A file from a newer MaskLoop is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from core.errors import ProjectError

SCHEMA_VERSION = 2

APPLICATION_ID = 0x4D4C4F50  # "MLOP": marks the SQLite file as a MaskLoop project

# Annotation ids use AUTOINCREMENT: a new annotation gets one more than the largest id ever
# stored, so an id freed by a delete stays free for the undo that re-inserts it, even if a
# worker stored proposals in between.
_SCHEMA_V1 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL              -- JSON
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    file_name TEXT NOT NULL UNIQUE,  -- relative to the images folder, as the COCO file gave it
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    reviewed INTEGER NOT NULL DEFAULT 0,
    size_checked INTEGER NOT NULL DEFAULT 0,
    proposals_model TEXT,            -- model key that produced the stored proposals
    extra TEXT                       -- JSON object of unknown COCO image fields, or NULL
);
CREATE INDEX images_reviewed ON images(reviewed);
CREATE TABLE categories (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    supercategory TEXT NOT NULL DEFAULT '',
    color TEXT NOT NULL DEFAULT '',
    extra TEXT
);
CREATE TABLE annotations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    category_id INTEGER NOT NULL REFERENCES categories(id),
    bbox_x REAL NOT NULL,
    bbox_y REAL NOT NULL,
    bbox_w REAL NOT NULL,
    bbox_h REAL NOT NULL,
    segmentation TEXT,               -- JSON exactly as given (polygons or RLE dict), or NULL
    iscrowd INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL CHECK (source IN ('human', 'model')),
    score REAL,
    state TEXT NOT NULL CHECK (state IN ('proposed', 'accepted', 'rejected')),
    area REAL,
    extra TEXT,
    import_key TEXT                  -- "<file_name>\\n<COCO id>" for imported rows: makes re-import idempotent
);
CREATE INDEX annotations_image ON annotations(image_id);
CREATE INDEX annotations_category ON annotations(category_id);
CREATE UNIQUE INDEX annotations_import_key ON annotations(import_key) WHERE import_key IS NOT NULL;
CREATE INDEX annotations_proposed ON annotations(image_id)
    WHERE source = 'model' AND state = 'proposed';
CREATE TABLE model_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    base_model TEXT NOT NULL,
    checkpoint_path TEXT NOT NULL,
    train_images INTEGER NOT NULL,
    val_images INTEGER NOT NULL,
    ap_before REAL,
    ap_after REAL,
    extra TEXT
);
"""

# Version 2: what the loop saves the annotator (core/store/effort.py). No foreign key from
# effort_instances to annotations: an undone delete brings an annotation back under its id,
# and its provenance must still be there.
_EFFORT_V2 = """
CREATE TABLE effort_time (
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    model TEXT NOT NULL,             -- images.proposals_model while the time was spent, or ''
    active_s REAL NOT NULL,
    actions INTEGER NOT NULL,
    since REAL NOT NULL,             -- epoch seconds of the first record
    PRIMARY KEY (image_id, model)
);
CREATE TABLE effort_instances (
    annotation_id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('proposal', 'drawn', 'box_to_mask')),
    geometry TEXT,                   -- a proposal's box and mask fingerprint as the model gave them
    since REAL NOT NULL
);
CREATE INDEX effort_instances_image ON effort_instances(image_id);
"""

Migration = Callable[[sqlite3.Connection], None]

# MIGRATIONS[n] upgrades a version-n file to version n + 1 (0 -> 1 is the initial layout).
MIGRATIONS: dict[int, Migration] = {
    0: lambda conn: _run_script(conn, _SCHEMA_V1),
    1: lambda conn: _run_script(conn, _EFFORT_V2),
}


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the open transaction; run statements one by one instead.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(
    conn: sqlite3.Connection,
    *,
    target: int | None = None,
    migrations: dict[int, Migration] | None = None,
    then: Callable[[sqlite3.Connection], object] | None = None,
) -> int:
    """Bring the file up to `target` (default: SCHEMA_VERSION); returns the version it had before.

    The connection must be in autocommit mode (isolation_level=None); all steps run in one
    IMMEDIATE transaction, together with `then` (e.g. a new project's first settings), so a
    crash never leaves a half-made file.
    """
    target = SCHEMA_VERSION if target is None else target
    steps = MIGRATIONS if migrations is None else migrations
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = schema_version(conn)
        if found > target:
            raise ProjectError(
                f"This project was saved by a newer MaskLoop (schema version {found}; this "
                f"version understands up to {target}). Update MaskLoop to open it."
            )
        for version in range(found, target):
            if version not in steps:
                raise ProjectError(f"No migration from project schema version {version}.")
            steps[version](conn)
        if then is not None:
            then(conn)
        # PRAGMA values cannot be bound parameters; both are integers we control.
        conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
