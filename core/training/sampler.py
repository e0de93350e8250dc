"""Aspect-ratio-aware batching, as torchvision's detection references do it.

Mask R-CNN pads every image of a batch to the largest one; a batch mixing portrait and
landscape images is therefore mostly padding. `GroupedBatchSampler` only puts images of the
same aspect-ratio group together, while still visiting images in the base sampler's (random,
possibly distributed) order. Like the reference, it yields exactly `len(sampler) //
batch_size` batches, so every replica of a distributed run takes the same number of steps.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler

# Aspect ratio (width / height) bin edges, torchvision's reference ones (2 ** linspace(-1, 1,
# 7)). 1.0 must be an edge: a batch mixing a slightly portrait with a slightly landscape image
# pads both to a square. An earlier square-ish bin (0.9-1.1) did that to most batches of
# 128-160 px images: 128 x 128 instead of 96 x 128 at lite's 96 px training scale, a third
# more pixels for every convolution.
DEFAULT_RATIO_EDGES = (0.5, 0.63, 0.794, 1.0, 1.26, 1.587, 2.0)


def aspect_ratio_groups(
    sizes: Sequence[tuple[int, int]], edges: Sequence[float] = DEFAULT_RATIO_EDGES
) -> list[int]:
    """The group index of each (width, height): which bin its width / height falls into."""
    sorted_edges = sorted(edges)
    return [bisect.bisect_right(sorted_edges, w / max(h, 1)) for w, h in sizes]


class GroupedBatchSampler(Sampler[list[int]]):
    """Batches of `batch_size` indices from `sampler`, each batch from a single group.

    Indices are buffered per group until a group has a full batch. At the end of an epoch
    the leftover partial groups are topped up with other indices of the same group (in
    sampler order) so the epoch still has `len(sampler) // batch_size` batches.
    """

    def __init__(self, sampler: Sampler[int], group_ids: Sequence[int], batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.sampler = sampler
        self.group_ids = list(group_ids)
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[list[int]]:
        buffers: dict[int, list[int]] = defaultdict(list)
        seen_by_group: dict[int, list[int]] = defaultdict(list)
        expected = len(self)
        produced = 0
        for index in self.sampler:
            group = self.group_ids[index]
            buffers[group].append(index)
            seen_by_group[group].append(index)
            if len(buffers[group]) == self.batch_size:
                yield buffers.pop(group)
                produced += 1
                if produced == expected:
                    return
        # Top up the leftovers, largest first, repeating the group's own images.
        for group, partial in sorted(buffers.items(), key=lambda kv: -len(kv[1])):
            if produced == expected:
                return
            needed = self.batch_size - len(partial)
            filler = list(itertools.islice(itertools.cycle(seen_by_group[group]), needed))
            yield partial + filler
            produced += 1

    def __len__(self) -> int:
        return max(1, len(self.sampler) // self.batch_size)  # type: ignore[arg-type]
