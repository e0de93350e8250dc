"""Start-up cost of the light commands against a bare interpreter, in the same run.

    python benchmarks/cli_startup.py [--repeats 5]

Each command runs in a fresh `python` process (as `maskloop ...` does): `--help`,
`import --help`, `export` of a three-image project and `eval` of one prediction. The
baseline is `python -c pass`. Printed: best-of-`repeats` wall time and the peak RSS of the
process (from wait4), and both as ratios to the baseline. Before the parsers stopped
importing the architectures module, `--help` loaded torch: about 3 s and 840 MB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._report import context, figure  # noqa: E402
from tests.conftest import make_tiny_coco  # noqa: E402

# Runs the command and prints its wall time and peak RSS. A child's ru_maxrss starts from its
# parent's RSS at fork, so the command is started from this small launcher rather than from
# the benchmark process, which holds the test data and pytest.
_LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - start
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "wall": wall, "kb": usage.ru_maxrss}))
"""


def measure(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one fresh process running `argv`."""
    result = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *argv], capture_output=True, text=True, cwd=REPO
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["code"] != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr}")
    return report["wall"], report["kb"] / 1024.0  # ru_maxrss is in KB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tiny = make_tiny_coco(root)
        project = root / "p.maskloop"
        cli = [sys.executable, str(REPO / "main.py")]
        subprocess.run(
            [
                *cli,
                "import",
                str(tiny.json_path),
                "--images",
                str(tiny.images_dir),
                "--project",
                str(project),
            ],
            check=True,
            capture_output=True,
        )
        with_masks = [a for a in tiny.data["annotations"] if "segmentation" in a]
        gt = root / "gt.json"
        gt.write_text(json.dumps({**tiny.data, "annotations": with_masks}))
        ring = next(a for a in with_masks if a["id"] == 101)
        pred = root / "pred.json"
        pred.write_text(
            json.dumps(
                [
                    {
                        **{k: ring[k] for k in ("image_id", "category_id", "segmentation")},
                        "score": 0.9,
                    }
                ]
            )
        )
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "maskloop --help": [*cli, "--help"],
            "maskloop import --help": [*cli, "import", "--help"],
            "maskloop export": [*cli, "export", str(project), "--out", str(root / "out.json")],
            "maskloop eval": [*cli, "eval", str(gt), str(pred)],
        }
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.repeats):  # interleaved, so background load hits all alike
            for name, argv in commands.items():
                wall, rss = measure(argv)
                old = best.get(name, (float("inf"), 0.0))
                best[name] = (min(old[0], wall), max(old[1], rss))
    base_wall, base_rss = best["python -c pass"]
    context(f"best of {args.repeats} runs each; baseline: python -c pass")
    for name, (wall, rss) in best.items():
        figure(f"{name} wall", wall, "s", baseline=base_wall, baseline_name="python -c pass")
        figure(f"{name} peak RSS", rss, "MB", baseline=base_rss, baseline_name="python -c pass")


if __name__ == "__main__":
    main()
