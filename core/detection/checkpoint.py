"""MaskLoop checkpoints: one file holding a model's weights and what they mean.

Layout (a plain dict, so `torch.load(..., weights_only=True)` can read it without running
any pickled code)::

    {"format": "maskloop-checkpoint", "version": 1,
     "meta": {"arch", "label_category_ids", "categories", "min_size", "max_size", "training"},
     "state_dict": {name: tensor}}

`label_category_ids[label]` is the project category id a model label stands for (index 0 is
the background), so checkpoints keep the project's own, possibly non-contiguous, ids. Like a
torchvision weights enum, a checkpoint carries its own categories.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from core.detection.architectures import legacy_architecture
from core.detection.names import ARCHITECTURES, LEGACY_ARCHITECTURES
from core.errors import CheckpointError
from core.files.atomic import create_temp_beside
from core.records import Category

FORMAT = "maskloop-checkpoint"
VERSION = 1
BACKGROUND_ID = 0  # label_category_ids[0]: the background label has no category


@dataclass
class CheckpointMeta:
    """What a checkpoint's weights mean. Plain values only, so weights_only loading works."""

    arch: str
    label_category_ids: list[int]  # [0, id of label 1, id of label 2, ...]
    categories: list[Category]  # dicts {"id", "name", "supercategory"} are accepted too
    min_size: int
    max_size: int
    training: dict[str, Any] = field(default_factory=dict)  # how it was trained (free form)

    def __post_init__(self) -> None:
        self.categories = [
            c if isinstance(c, Category) else _category_from_dict(c) for c in self.categories
        ]
        self.label_category_ids = [int(i) for i in self.label_category_ids]

    @property
    def num_classes(self) -> int:
        """Model labels, background included."""
        return len(self.label_category_ids)

    def label_names(self) -> list[str]:
        """One name per model label (index 0 "__background__"), as `core.detection.architectures` matches them."""
        names = {c.id: c.name for c in self.categories}
        return ["__background__"] + [
            names.get(cid, f"category {cid}") for cid in self.label_category_ids[1:]
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "label_category_ids": list(self.label_category_ids),
            "categories": [
                {"id": c.id, "name": c.name, "supercategory": c.supercategory}
                for c in self.categories
            ],
            "min_size": int(self.min_size),
            "max_size": int(self.max_size),
            "training": _plain(self.training),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckpointMeta:
        missing = [
            k
            for k in ("arch", "label_category_ids", "categories", "min_size", "max_size")
            if k not in data
        ]
        if missing:
            raise CheckpointError(f"checkpoint metadata lacks {', '.join(missing)}")
        return cls(
            arch=str(data["arch"]),
            label_category_ids=list(data["label_category_ids"]),
            categories=list(data["categories"]),
            min_size=int(data["min_size"]),
            max_size=int(data["max_size"]),
            training=dict(data.get("training") or {}),
        )


def _category_from_dict(data: Mapping[str, Any]) -> Category:
    return Category(
        id=int(data["id"]), name=str(data["name"]), supercategory=str(data.get("supercategory", ""))
    )


def _plain(value: Any) -> Any:
    """Turn tuples, paths and numpy scalars into the plain types weights_only loading allows."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    return str(value)


def save_checkpoint(
    path: str | os.PathLike[str], state_dict: Mapping[str, torch.Tensor], meta: CheckpointMeta
) -> Path:
    """Write a checkpoint atomically: a reader sees the old file or the complete new one.

    The tensors are moved to the CPU so the file loads on any machine.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "meta": meta.to_dict(),
        "state_dict": {k: v.detach().to("cpu") for k, v in state_dict.items()},
    }
    try:
        fd, tmp_name = create_temp_beside(path)
    except OSError as exc:
        raise CheckpointError(_write_failure(path, exc)) from exc
    try:
        with os.fdopen(fd, "wb") as tmp:
            torch.save(payload, tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        # torch.save reports a failed write (a full disk) as a RuntimeError of its zip writer.
        if isinstance(exc, OSError | RuntimeError):
            raise CheckpointError(_write_failure(path, exc)) from exc
        raise
    return path


def _write_failure(path: Path, exc: BaseException) -> str:
    cause = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        if isinstance(cause, OSError):
            break
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(exc)
    kept = "the previous checkpoint is unchanged" if path.exists() else "nothing was written"
    return (
        f"Cannot write the checkpoint {path}: {reason}; {kept}. Free some space (or choose "
        "another folder) and run again."
    )


def load_checkpoint(
    path: str | os.PathLike[str],
) -> tuple[dict[str, torch.Tensor], CheckpointMeta]:
    """Read a checkpoint without executing anything it contains.

    Raises CheckpointError if the file is missing, not a MaskLoop checkpoint, carries pickled
    code (refused by `weights_only=True`), or its metadata does not fit its weights.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist. {WHAT_A_MODEL_IS}")
    not_torch = _not_a_torch_file(path)
    if not_torch is not None:
        raise CheckpointError(f"{path} {not_torch}. {WHAT_A_MODEL_IS}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} is a PyTorch file holding pickled code or Python objects (such as a whole "
            "model saved with torch.save(model)), which MaskLoop refuses to run. "
            f"{WHAT_A_MODEL_IS}"
        ) from exc
    except Exception as exc:  # truncated zip, a damaged copy, an unknown binary ...
        raise CheckpointError(
            f"{path} cannot be read: it is not a PyTorch file, or it is damaged (a copy cut "
            f"short?). {WHAT_A_MODEL_IS}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} {_describe_foreign(payload)}. {WHAT_A_MODEL_IS}")
    version = payload.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version!r}; this MaskLoop reads up to "
            f"version {VERSION}, update MaskLoop"
        )
    meta = CheckpointMeta.from_dict(payload.get("meta") or {})
    state_dict = payload.get("state_dict")
    if not isinstance(state_dict, dict) or not all(
        isinstance(v, torch.Tensor) for v in state_dict.values()
    ):
        raise CheckpointError(f"checkpoint {path} has no valid state dict")
    meta = replace(meta, arch=legacy_architecture(meta.arch, state_dict))
    _check_consistent(path, state_dict, meta)
    return state_dict, meta


WHAT_A_MODEL_IS = (
    "A MaskLoop model is a checkpoint (a .pt file written by `maskloop train` or the "
    f"fine-tune dialog) or an architecture name: {', '.join(ARCHITECTURES)}."
)
_SNIFF_BYTES = 4096
# torch.save's pre-1.6 format is a pickle whose first object is this magic number.
_LEGACY_TORCH_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def _not_a_torch_file(path: Path) -> str | None:
    """What `path` is when its first bytes show it cannot be a PyTorch file, else None.

    Checked before torch.load, whose errors for such files are a KeyError("101") for text
    or a page about weights_only for JSON, both meaningless to someone who picked a file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        return f"cannot be opened: {exc.strerror or exc}"
    if not head:
        return "is empty (0 bytes), so it holds no model"
    if head.startswith(b"PK"):
        return _zip_kind(path)
    if _LEGACY_TORCH_MAGIC in head[:32]:
        return None
    if head.startswith(b"\x80"):
        return (
            "is a plain Python pickle, not a PyTorch checkpoint; MaskLoop refused it, since "
            "unpickling can run code"
        )
    text = _as_text(head)
    if text is None:
        return "is neither a PyTorch file nor text: it holds no model MaskLoop can read"
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith(("{", "[")):
        if '"annotations"' in text or '"images"' in text:
            return "is a COCO JSON file (labels), not a model"
        return "is a JSON file, not a model"
    return "is a text file, not a model"


def _as_text(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a character cut by the sniff window
            return head[: exc.start].decode("utf-8")
        return None


def _zip_kind(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return None  # a damaged torch file looks like this too: torch.load says more
    if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        return None
    return "is a zip archive, but not a PyTorch file (it has no data.pkl)"


def _describe_foreign(payload: Any) -> str:
    """What a loadable PyTorch file holds when it is not a MaskLoop checkpoint."""
    if (
        isinstance(payload, dict)
        and payload
        and all(isinstance(v, torch.Tensor) for v in payload.values())
    ):
        return (
            "is a PyTorch state dict (weights alone, such as torchvision's), not a MaskLoop "
            "checkpoint: it does not say which categories the weights stand for"
        )
    if isinstance(payload, dict):
        keys = ", ".join(repr(k) for k in list(payload)[:5]) or "none"
        return f"is a PyTorch file but not a MaskLoop checkpoint (its keys: {keys})"
    return f"is a PyTorch file holding a {type(payload).__name__}, not a MaskLoop checkpoint"


def _check_consistent(
    path: Path, state_dict: dict[str, torch.Tensor], meta: CheckpointMeta
) -> None:
    if meta.arch not in ARCHITECTURES + LEGACY_ARCHITECTURES:
        raise CheckpointError(
            f"checkpoint {path} is for architecture {meta.arch!r}, which this MaskLoop does not "
            f"know ({', '.join(ARCHITECTURES)})"
        )
    if len(meta.label_category_ids) < 2 or meta.label_category_ids[0] != BACKGROUND_ID:
        raise CheckpointError(
            f"checkpoint {path}: label_category_ids must start with 0 (background) "
            "and name at least one category"
        )
    scores = state_dict.get("roi_heads.box_predictor.cls_score.weight")
    if scores is not None and scores.shape[0] != meta.num_classes:
        raise CheckpointError(
            f"checkpoint {path}: the weights predict {scores.shape[0]} labels but the metadata "
            f"lists {meta.num_classes}"
        )
