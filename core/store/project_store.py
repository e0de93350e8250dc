"""`ProjectStore`: a MaskLoop project as one crash-safe SQLite file (`NAME.maskloop`).

Durability: every public mutation is one `BEGIN IMMEDIATE ... COMMIT` transaction on a WAL
journal, so killing the process at any instant loses at most the change in flight and the
file always opens afterwards. `synchronous=FULL` also makes each commit survive a power cut
(NORMAL would only survive a process crash); the cost is one fsync per change, which is
nothing at an annotator's pace and once per batch for an import.

Threads: a `ProjectStore` owns one `sqlite3` connection, which must stay on the thread that
opened it. The GUI thread opens one store; each worker thread (proposals, import, ...) opens
its own `ProjectStore` on the same path. WAL lets readers run beside the one writer, and the
busy timeout makes a second writer wait for the first instead of failing.

Paths: the images folder is stored relative to the project file, and image file names
relative to the images folder, so a folder of images and its project can move together.

Image status: REVIEWED when the image's `reviewed` flag is set; else PROPOSED when it has a
model proposal awaiting review (source=model, state=proposed); else UNLABELLED. An image with
only human annotations that nobody marked reviewed therefore counts as UNLABELLED: it is not
finished, and has no proposals waiting. COCO import sets the flag on every image the file
gives an annotation, because imported ground truth is human-made and accepted.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.errors import ProjectError
from core.files.paths import resolve_inside, unsafe_file_name_reason
from core.palette import next_unused_color
from core.records import (
    Annotation,
    Category,
    ImageRecord,
    ImageStatus,
    ReviewState,
    Source,
)
from core.store.project_records import ProjectRecordsMixin
from core.store.rows import (
    ANNOTATION_COLUMNS,
    IMAGE_COLUMNS,
    annotation_from_row,
    annotation_params,
    dumps_or_null,
    image_from_row,
    inserted_id,
    loads_or,
)
from core.store.schema import APPLICATION_ID, SCHEMA_VERSION, migrate, schema_version
from core.store.write_errors import write_failure

BUSY_TIMEOUT_S = 30.0
"""How long a writer waits for another connection's transaction before giving up."""

# Distinct, colour-blind-friendly hues (Okabe-Ito plus a few Tableau ones), assigned in order.

_SQL_PARAM_CHUNK = 500  # stay well under SQLite's bound-parameter limit

_HAS_PROPOSAL = (
    "EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = images.id "
    "AND a.source = 'model' AND a.state = 'proposed')"
)  # literals, not parameters, so SQLite can use the partial index annotations_proposed


class RecordNotFound(ProjectError, KeyError):
    """An image, category or annotation id that the project does not hold."""

    __str__ = Exception.__str__  # KeyError would print the message in quotes


class ProjectStore(ProjectRecordsMixin):
    """One open project. Not thread-safe: open one per thread (see the module docstring)."""

    def __init__(
        self, path: Path, conn: sqlite3.Connection, *, read_only_reason: str | None = None
    ) -> None:
        self.path = path
        self._conn = conn
        self._in_transaction = False  # inside transaction(): an inner one joins the outer
        self.read_only_reason = read_only_reason
        """Why every write is refused (a file or folder that cannot be written, a project open
        in another window), or None for a writable project."""
        rel = self._meta("images_dir")
        if rel is None:
            raise ProjectError(f"{path} is not a MaskLoop project (it names no images folder).")
        self.images_dir = (path.parent / rel).resolve()

    # ---------------------------------------------------------------- opening
    @classmethod
    def create(cls, path: str | os.PathLike, images_dir: str | os.PathLike) -> ProjectStore:
        """A new, empty project at `path` whose images live in `images_dir`."""
        path = Path(path).absolute()
        if path.exists():
            raise ProjectError(f"{path} already exists; open it instead of creating it.")
        if not path.parent.is_dir():
            raise ProjectError(f"Cannot create {path}: the folder {path.parent} does not exist.")
        images_dir = Path(images_dir).absolute()
        try:
            rel = os.path.relpath(images_dir, path.parent)
        except ValueError:  # another drive on Windows: only an absolute path works
            rel = str(images_dir)
        conn = _connect(path)
        try:
            migrate(
                conn,
                then=lambda c: c.execute(
                    "INSERT INTO meta(key, value) VALUES ('images_dir', ?)", (rel,)
                ),
            )
        except BaseException:
            conn.close()
            raise
        return cls(path, conn)

    @classmethod
    def open(cls, path: str | os.PathLike, *, read_only: str | None = None) -> ProjectStore:
        """Open an existing project, upgrading an older schema in place.

        A project whose file or folder cannot be written opens read-only (SQLite's
        `mode=ro`), as does one opened with `read_only` (the reason, shown to the user):
        it reads as usual and every write raises ProjectError saying why.
        """
        path = Path(path).absolute()
        if not path.is_file():
            raise ProjectError(f"No project file at {path}.")
        read_only = read_only or read_only_reason(path)
        conn = _connect(path) if read_only is None else _connect_read_only(path)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            if app_id != APPLICATION_ID:
                raise ProjectError(f"{path} is an SQLite file but not a MaskLoop project.")
            if read_only is None:
                migrate(conn)
            elif schema_version(conn) != SCHEMA_VERSION:
                raise ProjectError(
                    f"{path} is read-only ({read_only}) and was saved by another version of "
                    "MaskLoop, so it cannot be upgraded; copy it somewhere you can write."
                )
            return cls(path, conn, read_only_reason=read_only)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise ProjectError(f"{path} is not a MaskLoop project or is damaged: {exc}") from exc
        except BaseException:
            conn.close()
            raise

    @classmethod
    def open_or_create(cls, path: str | os.PathLike, images_dir: str | os.PathLike) -> ProjectStore:
        return cls.open(path) if Path(path).exists() else cls.create(path, images_dir)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ProjectStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: all statements inside commit together or not at all.

        IMMEDIATE takes the write lock up front, so two connections never deadlock upgrading
        a read lock; the busy timeout makes the second one wait.

        A transaction opened inside another joins it: several public mutations wrapped in one
        `transaction()` cost one commit (one fsync) instead of one each, and an error in any
        of them rolls back all.
        """
        if self.read_only_reason is not None:
            raise ProjectError(
                f"This project is read-only: {self.read_only_reason}. The change was not saved."
            )
        if self._in_transaction:
            try:
                yield self._conn  # the outer transaction commits, or rolls back on the error
            except sqlite3.Error as exc:
                raise self._write_error(exc) from exc
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise ProjectError(write_failure(self.path, exc)) from exc
        self._in_transaction = True
        try:
            yield self._conn
            self._in_transaction = False
            self._conn.execute("COMMIT")
        except BaseException as exc:
            self._in_transaction = False
            # A failed COMMIT (a full disk) may have ended the transaction already; a second
            # error from ROLLBACK must not hide the first.
            if self._conn.in_transaction:
                with suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._write_error(exc) from exc
            raise

    def _write_error(self, exc: sqlite3.Error) -> ProjectError:
        if isinstance(exc, sqlite3.IntegrityError):
            return ProjectError(f"Change refused by {self.path.name}: {exc}")
        return ProjectError(write_failure(self.path, exc))

    # ---------------------------------------------------------------- images
    def add_image(
        self,
        file_name: str,
        width: int,
        height: int,
        *,
        image_id: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> ImageRecord:
        reason = unsafe_file_name_reason(file_name)
        if reason is not None:
            raise ProjectError(f"Cannot add image {file_name!r}: {reason}.")
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO images(id, file_name, width, height, extra) VALUES (?, ?, ?, ?, ?)",
                (image_id, file_name, int(width), int(height), dumps_or_null(extra)),
            )
            new_id = inserted_id(cur)
        return self.get_image(new_id)

    def add_images(
        self, images: Iterable[tuple[str, int, int]], *, size_checked: bool = False
    ) -> int:
        """Add many (file_name, width, height) images in one transaction; returns how many.

        Names already in the project are skipped, so adding a folder twice adds nothing.
        One transaction for the lot keeps a 100,000-image folder to seconds rather than the
        minutes that one synchronous commit per image would take.
        """
        rows = []
        for file_name, width, height in images:
            reason = unsafe_file_name_reason(file_name)
            if reason is not None:
                raise ProjectError(f"Cannot add image {file_name!r}: {reason}.")
            rows.append((file_name, int(width), int(height), int(size_checked)))
        with self.transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO images(file_name, width, height, size_checked) "
                "VALUES (?, ?, ?, ?)",
                rows,
            )
            return conn.total_changes - before

    def get_image(self, image_id: int) -> ImageRecord:
        row = self._conn.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE id = ?", (image_id,)
        ).fetchone()
        if row is None:
            raise RecordNotFound(f"The project has no image with id {image_id}.")
        return image_from_row(row)

    def image_by_file_name(self, file_name: str) -> ImageRecord | None:
        row = self._conn.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE file_name = ?", (file_name,)
        ).fetchone()
        return None if row is None else image_from_row(row)

    def image_count(self, status: ImageStatus | None = None) -> int:
        where, params = _image_filter(status, None)
        return int(self._conn.execute(f"SELECT COUNT(*) FROM images{where}", params).fetchone()[0])

    def image_ids(
        self, *, status: ImageStatus | None = None, search: str | None = None
    ) -> list[int]:
        where, params = _image_filter(status, search)
        rows = self._conn.execute(f"SELECT id FROM images{where} ORDER BY id", params)
        return [r[0] for r in rows]

    def list_images(
        self,
        offset: int = 0,
        limit: int | None = None,
        *,
        status: ImageStatus | None = None,
        search: str | None = None,
    ) -> list[ImageRecord]:
        where, params = _image_filter(status, search)
        sql = f"SELECT {IMAGE_COLUMNS} FROM images{where} ORDER BY id LIMIT ? OFFSET ?"
        rows = self._conn.execute(sql, (*params, -1 if limit is None else limit, offset))
        return [image_from_row(r) for r in rows]

    def image_statuses(self, image_ids: Iterable[int]) -> dict[int, ImageStatus]:
        """Status of each id that exists (unknown ids are left out)."""
        result: dict[int, ImageStatus] = {}
        for chunk in _chunks(list(image_ids)):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT id, reviewed, {_HAS_PROPOSAL} FROM images WHERE id IN ({marks})", chunk
            )
            for image_id, reviewed, proposed in rows:
                result[image_id] = (
                    ImageStatus.REVIEWED
                    if reviewed
                    else ImageStatus.PROPOSED
                    if proposed
                    else ImageStatus.UNLABELLED
                )
        return result

    def image_names(self, image_ids: Iterable[int]) -> dict[int, str]:
        """File name of each id that exists (unknown ids are left out).

        Reads by primary key, so a page of a filtered list costs the same anywhere in it
        (LIMIT/OFFSET under a status filter re-tests every row before the offset)."""
        result: dict[int, str] = {}
        for chunk in _chunks(list(image_ids)):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT id, file_name FROM images WHERE id IN ({marks})", chunk
            )
            result.update(rows)
        return result

    def image_path(self, image_id: int) -> Path:
        """Absolute path of the image file; never outside the images folder."""
        return resolve_inside(self.images_dir, self.get_image(image_id).file_name)

    def set_image_size(
        self, image_id: int, width: int, height: int, *, checked: bool = True
    ) -> None:
        self._update_one(
            "UPDATE images SET width = ?, height = ?, size_checked = ? WHERE id = ?",
            (int(width), int(height), int(checked), image_id),
            f"image {image_id}",
        )

    def set_reviewed(self, image_id: int, reviewed: bool = True) -> None:
        self._update_one(
            "UPDATE images SET reviewed = ? WHERE id = ?",
            (int(reviewed), image_id),
            f"image {image_id}",
        )

    def proposals_model(self, image_id: int) -> str | None:
        row = self._conn.execute(
            "SELECT proposals_model FROM images WHERE id = ?", (image_id,)
        ).fetchone()
        if row is None:
            raise RecordNotFound(f"The project has no image with id {image_id}.")
        return row[0]

    def proposal_margins(
        self, image_ids: Iterable[int] | None = None
    ) -> list[tuple[int, bool, bool, float | None]]:
        """Per image: (id, reviewed, a model has run on it, mean proposal margin or None).

        The margin of a pending proposal with score s is 1 - |2s - 1| (1 at s = 0.5, 0 at 0 or
        1); None when the image has no pending proposals. One aggregate query over the
        partial proposals index, so "unsure first" ranks 100k images without a loop.
        """
        if image_ids is None:
            raw = self._conn.execute(_MARGIN_SQL.format(where="")).fetchall()
        else:
            raw = []
            for chunk in _chunks(list(dict.fromkeys(int(i) for i in image_ids))):
                where = f"WHERE images.id IN ({','.join('?' * len(chunk))})"
                raw += self._conn.execute(_MARGIN_SQL.format(where=where), chunk).fetchall()
        return [(int(i), bool(r), bool(p), None if m is None else float(m)) for i, r, p, m in raw]

    # ---------------------------------------------------------------- categories
    def categories(self) -> list[Category]:
        rows = self._conn.execute(
            "SELECT id, name, supercategory, color, extra FROM categories ORDER BY id"
        )
        return [Category(r[0], r[1], r[2], r[3], loads_or(r[4], {})) for r in rows]

    def get_category(self, category_id: int) -> Category:
        for category in self.categories():
            if category.id == category_id:
                return category
        raise RecordNotFound(f"The project has no category with id {category_id}.")

    def add_category(
        self,
        name: str,
        *,
        category_id: int | None = None,
        supercategory: str = "",
        color: str = "",
        extra: dict[str, Any] | None = None,
    ) -> Category:
        with self.transaction() as conn:
            color = color or self._next_color()
            cur = conn.execute(
                "INSERT INTO categories(id, name, supercategory, color, extra) VALUES (?,?,?,?,?)",
                (category_id, name, supercategory or "", color, dumps_or_null(extra)),
            )
            new_id = inserted_id(cur)
        return self.get_category(new_id)

    def rename_category(self, category_id: int, name: str) -> None:
        self._update_one(
            "UPDATE categories SET name = ? WHERE id = ?",
            (name, category_id),
            f"category {category_id}",
        )

    def set_category_color(self, category_id: int, color: str) -> None:
        self._update_one(
            "UPDATE categories SET color = ? WHERE id = ?",
            (color, category_id),
            f"category {category_id}",
        )

    def merge_categories(self, source_id: int, into_id: int) -> list[int]:
        """Move every annotation of `source_id` to `into_id`, then delete `source_id`.

        Returns the ids of the moved annotations, which is what `unmerge_category` needs to
        undo the merge exactly.
        """
        if source_id == into_id:
            return []
        self.get_category(source_id), self.get_category(into_id)  # both must exist
        with self.transaction() as conn:
            moved = [
                int(r[0])
                for r in conn.execute(
                    "SELECT id FROM annotations WHERE category_id = ? ORDER BY id", (source_id,)
                )
            ]
            conn.execute(
                "UPDATE annotations SET category_id = ? WHERE category_id = ?", (into_id, source_id)
            )
            conn.execute("DELETE FROM categories WHERE id = ?", (source_id,))
        return moved

    def unmerge_category(self, category: Category, annotation_ids: Iterable[int]) -> None:
        """Undo `merge_categories`: bring `category` back as it was and give it its annotations."""
        ids = list(annotation_ids)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO categories(id, name, supercategory, color, extra) VALUES (?,?,?,?,?)",
                (
                    category.id,
                    category.name,
                    category.supercategory,
                    category.color,
                    dumps_or_null(category.extra),
                ),
            )
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                conn.execute(
                    f"UPDATE annotations SET category_id = ? WHERE id IN ({marks})",
                    (category.id, *chunk),
                )

    def _next_color(self) -> str:
        used = [r[0] for r in self._conn.execute("SELECT color FROM categories")]
        return next_unused_color(used, len(used))

    # ---------------------------------------------------------------- annotations
    def annotations(self, image_id: int, *, include_rejected: bool = False) -> list[Annotation]:
        """The image's annotations in id order (rejected ones only when asked)."""
        sql = f"SELECT {ANNOTATION_COLUMNS} FROM annotations WHERE image_id = ?"
        if not include_rejected:
            sql += " AND state != 'rejected'"
        rows = self._conn.execute(sql + " ORDER BY id", (image_id,))
        return [annotation_from_row(r) for r in rows]

    def iter_annotations(self, *, include_rejected: bool = False) -> Iterator[Annotation]:
        """Every annotation of the project in (image id, id) order, in one query (export)."""
        where = "" if include_rejected else " WHERE state != 'rejected'"
        sql = f"SELECT {ANNOTATION_COLUMNS} FROM annotations{where} ORDER BY image_id, id"
        for row in self._conn.execute(sql):
            yield annotation_from_row(row)

    def iter_annotation_rows(self, *, include_rejected: bool = False) -> Iterator[tuple[Any, ...]]:
        """Like `iter_annotations`, as raw rows in `rows.ANNOTATION_COLUMNS` order with the
        segmentation and extra fields as their stored JSON text: an export of a million
        annotations copies that text instead of parsing and re-encoding it."""
        where = "" if include_rejected else " WHERE state != 'rejected'"
        sql = f"SELECT {ANNOTATION_COLUMNS} FROM annotations{where} ORDER BY image_id, id"
        yield from self._conn.execute(sql)

    def get_annotation(self, annotation_id: int) -> Annotation:
        row = self._conn.execute(
            f"SELECT {ANNOTATION_COLUMNS} FROM annotations WHERE id = ?", (annotation_id,)
        ).fetchone()
        if row is None:
            raise RecordNotFound(f"The project has no annotation with id {annotation_id}.")
        return annotation_from_row(row)

    def add_annotation(self, ann: Annotation) -> Annotation:
        """Store `ann`. id None: a new id; id set: exactly that id (the undo of a delete)."""
        with self.transaction() as conn:
            new_id = self._insert_annotation(conn, ann)
        return replace(ann, id=new_id)

    def update_annotation(self, ann: Annotation) -> None:
        """Overwrite the stored annotation `ann.id` with every field of `ann`.

        An `area` carried over unchanged from before a mask edit would be stale, so when the
        segmentation changes but the area does not, the area is cleared (recomputed on export).
        """
        if ann.id is None:
            raise ProjectError("Cannot update an annotation that was never stored (id is None).")
        old = self.get_annotation(ann.id)
        if ann.segmentation != old.segmentation and ann.area == old.area:
            ann = replace(ann, area=None)
        params = annotation_params(ann)
        with self.transaction() as conn:
            conn.execute(
                "UPDATE annotations SET image_id=?, category_id=?, bbox_x=?, bbox_y=?, bbox_w=?, "
                "bbox_h=?, segmentation=?, iscrowd=?, source=?, score=?, state=?, area=?, extra=? "
                "WHERE id = ?",
                (*params, ann.id),
            )

    def delete_annotation(self, annotation_id: int) -> None:
        self._update_one(
            "DELETE FROM annotations WHERE id = ?", (annotation_id,), f"annotation {annotation_id}"
        )

    def set_annotation_state(self, annotation_id: int, state: ReviewState) -> None:
        self._update_one(
            "UPDATE annotations SET state = ? WHERE id = ?",
            (ReviewState(state).value, annotation_id),
            f"annotation {annotation_id}",
        )

    def replace_proposals(
        self, image_id: int, proposals: Sequence[Annotation], model_key: str
    ) -> list[Annotation]:
        """Swap the image's pending model proposals for `proposals` in one transaction.

        Every stored proposal is forced to source=MODEL, state=PROPOSED and this image; human,
        accepted and rejected annotations are never touched.
        """
        self.get_image(image_id)
        stored = []
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM annotations WHERE image_id = ? AND source = 'model' "
                "AND state = 'proposed'",
                (image_id,),
            )
            for proposal in proposals:
                ann = replace(
                    proposal,
                    id=None,
                    image_id=image_id,
                    source=Source.MODEL,
                    state=ReviewState.PROPOSED,
                )
                stored.append(replace(ann, id=self._insert_annotation(conn, ann)))
            conn.execute(
                "UPDATE images SET proposals_model = ? WHERE id = ?", (model_key, image_id)
            )
        return stored

    def annotation_count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM annotations").fetchone()[0])

    def _insert_annotation(self, conn: sqlite3.Connection, ann: Annotation) -> int:
        if (
            ann.id is not None
            and conn.execute("SELECT 1 FROM annotations WHERE id = ?", (ann.id,)).fetchone()
        ):
            raise ProjectError(f"An annotation with id {ann.id} already exists.")
        cur = conn.execute(
            "INSERT INTO annotations(image_id, category_id, bbox_x, bbox_y, bbox_w, bbox_h, "
            "segmentation, iscrowd, source, score, state, area, extra, id) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (*annotation_params(ann), ann.id),
        )
        return inserted_id(cur)

    # ---------------------------------------------------------------- internals
    def _update_one(self, sql: str, params: tuple[Any, ...], what: str) -> None:
        with self.transaction() as conn:
            if conn.execute(sql, params).rowcount == 0:
                raise RecordNotFound(f"The project has no {what}.")


# Images LEFT JOIN their pending proposals; the join uses literals so SQLite can use the
# partial index on proposed model annotations. A proposal stored without a score counts as a
# coin flip rather than as certain.
_MARGIN_SQL = """
SELECT images.id,
       images.reviewed != 0,
       images.proposals_model IS NOT NULL,
       AVG(CASE WHEN a.id IS NULL THEN NULL
                ELSE 1.0 - ABS(2.0 * MIN(MAX(COALESCE(a.score, 0.5), 0.0), 1.0) - 1.0) END)
FROM images
LEFT JOIN annotations a
       ON a.image_id = images.id AND a.source = 'model' AND a.state = 'proposed'
{where}
GROUP BY images.id
"""


def _connect(path: Path) -> sqlite3.Connection:
    try:
        # isolation_level=None: no implicit transactions; ProjectStore.transaction() opens them.
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        # Unicode-aware case folding for the image search (SQLite's lower() is ASCII only).
        conn.create_function("casefold", 1, _casefold, deterministic=True)
    except sqlite3.Error as exc:
        raise ProjectError(f"Cannot open {path} as a project: {exc}") from exc
    return conn


def read_only_reason(path: Path) -> str | None:
    """Why the project at `path` cannot be written, or None when it can.

    SQLite in WAL mode writes two files beside the project (`-wal`, `-shm`), so the folder
    must be writable too, not only the file."""
    if not os.access(path, os.W_OK):
        return f"the file {path.name} cannot be written"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"its folder {path.parent} cannot be written"
    return None


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes, not even the WAL index when the folder is read-only."""
    uri = f"{path.as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.execute("PRAGMA schema_version").fetchone()  # fails now rather than later
    except sqlite3.Error:
        # A WAL file in a read-only folder with no -shm beside it: read it as immutable
        # (nobody can be writing to a folder that cannot be written).
        try:
            conn = sqlite3.connect(
                f"{uri}&immutable=1", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None
            )
            conn.execute("PRAGMA schema_version").fetchone()
        except sqlite3.Error as exc:
            raise ProjectError(f"Cannot open {path} read-only: {exc}") from exc
    conn.execute("PRAGMA foreign_keys=ON")
    conn.create_function("casefold", 1, _casefold, deterministic=True)
    return conn


def _image_filter(status: ImageStatus | None, search: str | None) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    params: list[Any] = []
    if status is not None:
        status = ImageStatus(status)
        if status is ImageStatus.REVIEWED:
            clauses.append("reviewed = 1")
        elif status is ImageStatus.PROPOSED:
            clauses.append(f"reviewed = 0 AND {_HAS_PROPOSAL}")
        else:
            clauses.append(f"reviewed = 0 AND NOT {_HAS_PROPOSAL}")
    if search:
        clauses.append("instr(casefold(file_name), casefold(?)) > 0")
        params.append(search)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def _casefold(text: str | None) -> str | None:
    return None if text is None else text.casefold()


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _SQL_PARAM_CHUNK):
        yield ids[start : start + _SQL_PARAM_CHUNK]
