"""COCO import/export throughput: 10,000 images and 100,000 RLE-mask annotations.

    python benchmarks/coco_io.py [--images 10000] [--per-image 10] [--keep DIR]

The image files are real but empty (0 bytes): import only checks that each file exists
(decoding is deferred to when an image is opened), so their content does not change the
timing. Annotations carry compressed RLE masks and no `area`, the worst case for export
(area is computed with pycocotools for each mask). Target: import and export each < 10 s.
Timings on a shared 2-core machine are noisy; run twice.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import context, figure  # noqa: E402
from core.coco.exporter import export_coco  # noqa: E402
from core.coco.importer import import_coco  # noqa: E402
from core.masks import encode_mask  # noqa: E402
from core.store import ProjectStore  # noqa: E402

SIZE = 128  # every image is SIZE x SIZE


def make_dataset(root: Path, n_images: int, per_image: int) -> Path:
    rng = np.random.default_rng(0)
    templates = []  # 64 distinct masks, reused: generation speed is not what is measured
    for _ in range(64):
        mask = np.zeros((SIZE, SIZE), bool)
        x, y = rng.integers(0, SIZE - 40, 2)
        w, h = rng.integers(5, 40, 2)
        mask[y : y + h, x : x + w] = True
        mask[y + h // 2 :, x : x + 3] = True  # a non-rectangular part
        templates.append((encode_mask(mask), [float(x), float(y), float(w), float(SIZE - y)]))
    images_dir = root / "images"
    images, annotations = [], []
    for i in range(n_images):
        sub = images_dir / f"part{i // 1000:02d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True)
        name = f"part{i // 1000:02d}/img {i:06d}.jpg"
        (images_dir / name).touch()
        images.append({"id": i + 1, "file_name": name, "width": SIZE, "height": SIZE})
        for j in range(per_image):
            rle, bbox = templates[(i + j) % len(templates)]
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1,
                                "category_id": 1 + j % 5, "segmentation": rle, "bbox": bbox,
                                "iscrowd": 0})  # fmt: skip
    categories = [{"id": c, "name": f"class {c}", "supercategory": "thing"} for c in range(1, 6)]
    path = root / "bench.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--per-image", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep the files")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="maskloop-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    coco = make_dataset(root, args.images, args.per_image)
    n_ann = args.images * args.per_image
    context(f"generated {args.images} images (empty files) and {n_ann} RLE annotations "
            f"in {time.perf_counter() - t0:.1f} s ({coco.stat().st_size / 1e6:.1f} MB JSON)")  # fmt: skip

    results = {}
    with ProjectStore.create(root / "bench.maskloop", root / "images") as store:
        t0 = time.perf_counter()
        report = import_coco(coco, store)
        results["import"] = time.perf_counter() - t0
        assert report.annotations_imported == n_ann, report.summary()
        t0 = time.perf_counter()
        import_coco(coco, store)  # nothing to add: measures the merge check alone
        results["re-import (no-op)"] = time.perf_counter() - t0
        for mode in ("keep", "rle"):
            t0 = time.perf_counter()
            export_coco(store, root / f"out_{mode}.json", masks=mode)
            results[f"export --masks {mode}"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for offset in range(0, args.images, 200):  # the GUI's virtualised list paging through
            ids = [im.id for im in store.list_images(offset, 200)]
            store.image_statuses(ids)
        results["page all images (list_images+image_statuses)"] = time.perf_counter() - t0

    target = 10.0
    for name, seconds in results.items():
        rate = n_ann / seconds if "page" not in name else args.images / seconds
        unit = "annotations/s" if "page" not in name else "images/s"
        figure(name, seconds, "s", baseline=target, baseline_name="target")
        figure(f"{name} rate", rate, unit)
    if not args.keep:
        import shutil

        shutil.rmtree(root)


if __name__ == "__main__":
    main()
