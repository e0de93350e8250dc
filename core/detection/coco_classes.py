"""The COCO categories torchvision's pretrained detection weights predict.

Names and ids come from the weights' own metadata (`meta["categories"]`): the model's label
index *is* the COCO category id (1 = person ... 90 = toothbrush), with "N/A" placeholders
for the ids COCO 2017 leaves unused. Supercategories are not in torchvision's metadata; they
are COCO 2017's, so an export of proposals looks like a COCO export.
"""

from __future__ import annotations

from torchvision.models.detection import MaskRCNN_ResNet50_FPN_V2_Weights

from core.records import Category

BACKGROUND = "__background__"
_UNUSED = "N/A"

# fmt: off
_SUPERCATEGORIES: dict[str, tuple[str, ...]] = {
    "person": ("person",),
    "vehicle": ("bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"),
    "outdoor": ("traffic light", "fire hydrant", "stop sign", "parking meter", "bench"),
    "animal": (
        "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe",
    ),
    "accessory": ("backpack", "umbrella", "handbag", "tie", "suitcase"),
    "sports": (
        "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
        "skateboard", "surfboard", "tennis racket",
    ),
    "kitchen": ("bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl"),
    "food": (
        "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza",
        "donut", "cake",
    ),
    "furniture": ("chair", "couch", "potted plant", "bed", "dining table", "toilet"),
    "electronic": ("tv", "laptop", "mouse", "remote", "keyboard", "cell phone"),
    "appliance": ("microwave", "oven", "toaster", "sink", "refrigerator"),
    "indoor": ("book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush"),
}
# fmt: on
_SUPERCATEGORY_OF = {name: sup for sup, names in _SUPERCATEGORIES.items() for name in names}


def coco_label_names() -> list[str]:
    """One name per label of torchvision's COCO models (91: background, 80 classes, N/A gaps)."""
    return list(MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1.meta["categories"])


def coco_label_category_ids() -> list[int]:
    """The COCO category id each label stands for: the label index itself."""
    return list(range(len(coco_label_names())))


def coco_categories() -> list[Category]:
    """The 80 COCO categories, with their COCO ids and supercategories."""
    return [
        Category(id=index, name=name, supercategory=_SUPERCATEGORY_OF.get(name, ""))
        for index, name in enumerate(coco_label_names())
        if name not in (BACKGROUND, _UNUSED)
    ]
