"""torchvision's COCO-pretrained Mask R-CNN weights, through torchvision's own weights API.

The files live in the torch hub cache (`<hub_dir>/checkpoints/<file name of the weights
URL>`, hub_dir = `torch.hub.get_dir()`, i.e. `$TORCH_HOME/hub`), exactly where torchvision
itself puts them, so weights downloaded by any torchvision program are reused. When the file
is absent MaskLoop downloads it, but first checks in a couple of seconds that the download
server is reachable: an offline machine gets one clear `WeightsUnavailableError` saying
which file to place where, instead of a hang or a urllib traceback.
"""

from __future__ import annotations

import os
import pickle
import socket
import threading
import urllib.parse
from pathlib import Path

import torch
from torchvision.models import WeightsEnum
from torchvision.models.detection import (
    MaskRCNN_ResNet50_FPN_V2_Weights,
    MaskRCNN_ResNet50_FPN_Weights,
)

from core.detection.architectures import check_architecture
from core.detection.names import ARCHITECTURES
from core.errors import WeightsUnavailableError

COCO_WEIGHTS: dict[str, WeightsEnum] = {
    "r50-fpn": MaskRCNN_ResNet50_FPN_Weights.COCO_V1,
    "r50-fpn-v2": MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1,
}
_PROBE_TIMEOUT_S = 3.0


def has_pretrained_weights(arch: str) -> bool:
    """Whether torchvision publishes COCO weights for `arch` (`lite` trains from scratch)."""
    return check_architecture(arch) in COCO_WEIGHTS


def resolve_hub_dir(hub_dir: str | os.PathLike[str] | None = None) -> Path:
    """The torch hub directory used: `hub_dir` if given, else torch's (TORCH_HOME aware)."""
    return Path(hub_dir) if hub_dir is not None else Path(torch.hub.get_dir())


def coco_weights_file(arch: str, *, hub_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where torchvision's cache keeps (or would keep) the COCO weights of `arch`."""
    weights = _weights_for(arch)
    file_name = os.path.basename(urllib.parse.urlparse(weights.url).path)
    return resolve_hub_dir(hub_dir) / "checkpoints" / file_name


def _weights_for(arch: str) -> WeightsEnum:
    if check_architecture(arch) not in COCO_WEIGHTS:
        raise WeightsUnavailableError(
            f"architecture {arch!r} has no pretrained COCO weights; choose one of "
            f"{', '.join(a for a in ARCHITECTURES if a in COCO_WEIGHTS)} or pass a checkpoint"
        )
    return COCO_WEIGHTS[arch]


def _server_reachable(url: str, timeout_s: float) -> bool:
    """Can a TCP connection to the URL's host be opened within `timeout_s`?

    Run in a daemon thread because name resolution ignores socket timeouts and can block
    far longer on a machine with a misconfigured resolver.
    """
    parsed = urllib.parse.urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    outcome: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((parsed.hostname, port), timeout=timeout_s):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    thread = threading.Thread(target=probe, name="weights-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(outcome and outcome[0])


def _unavailable_message(arch: str, target: Path, url: str, reason: str) -> str:
    return (
        f"the COCO weights for {arch} are not available ({reason}). Download {url} on a "
        f"machine with internet access and place it at {target} (set TORCH_HOME to move the "
        "torch cache), or pass a MaskLoop checkpoint file instead of an architecture name."
    )


def load_coco_state_dict(
    arch: str,
    *,
    hub_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    probe_timeout_s: float = _PROBE_TIMEOUT_S,
) -> dict[str, torch.Tensor]:
    """torchvision's COCO state dict for `arch` (91 labels), from the cache or downloaded.

    Raises WeightsUnavailableError, naming the file and the place for it, when the file
    is absent and cannot be downloaded (offline, `download=False`, server unreachable).
    """
    weights = _weights_for(arch)
    target = coco_weights_file(arch, hub_dir=hub_dir)
    if not target.is_file():
        if not download:
            raise WeightsUnavailableError(
                _unavailable_message(arch, target, weights.url, "downloads are disabled")
            )
        if not _server_reachable(weights.url, probe_timeout_s):
            raise WeightsUnavailableError(
                _unavailable_message(
                    arch, target, weights.url, "the download server is unreachable"
                )
            )
    try:
        # Same call torchvision's weights.get_state_dict makes, with an explicit cache dir;
        # an existing file is loaded without touching the network.
        return torch.hub.load_state_dict_from_url(
            weights.url,
            model_dir=str(target.parent),
            map_location="cpu",
            progress=True,
            check_hash=True,
            weights_only=True,
        )
    except (OSError, RuntimeError, ValueError, pickle.UnpicklingError) as exc:
        if target.is_file():
            raise WeightsUnavailableError(
                f"the cached COCO weights for {arch} at {target} cannot be read ({exc}); delete "
                "the file and download it again"
            ) from exc
        raise WeightsUnavailableError(
            _unavailable_message(arch, target, weights.url, f"download failed: {exc}")
        ) from exc
