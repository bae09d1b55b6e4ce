"""Container images a form offers: the inventory's list plus image files found on shared
storage (pure; the Slurm and HTCondor forms both use it, each with the references its
runtime accepts)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NO_IMAGE = "none"
IMAGE_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
# Apptainer paths and URIs (docker://, oras://, library://) and podman references: no
# spaces, quotes or shell characters, never an option.
IMAGE_REF = re.compile(r"^[A-Za-z0-9_/][A-Za-z0-9_./:@+-]{0,510}\Z")


@dataclass(frozen=True)
class ImageChoice:
    name: str
    ref: str
    label: str


def image_choices(
    images: Iterable[Mapping[str, Any] | Any],
    image_dirs: Iterable[str] = (),
    ref_pattern: re.Pattern[str] = IMAGE_REF,
) -> dict[str, ImageChoice]:
    """Images from the inventory (name/ref/description) plus *.sif files in image_dirs.

    An inventory image with an unusable name or reference is a site error (ValueError); a
    file someone dropped into an image directory with an odd name is skipped."""
    out: dict[str, ImageChoice] = {}
    for img in images:
        get = img.get if isinstance(img, Mapping) else lambda k, d=None, i=img: getattr(i, k, d)
        name, ref = get("name"), get("ref")
        if not isinstance(ref, str) or not ref_pattern.fullmatch(ref):
            raise ValueError(f"image reference {ref!r} is not allowed")
        if not name or set(name) - IMAGE_NAME_CHARS or name == NO_IMAGE:
            raise ValueError(f"image name {name!r} is not allowed")
        out[name] = ImageChoice(name, ref, get("description") or name)
    for directory in image_dirs:
        try:
            entries = sorted(Path(directory).glob("*.sif"))
        except OSError:
            continue
        for path in entries:
            name, ref = path.stem, str(path)
            if set(name) - IMAGE_NAME_CHARS or name in out or not ref_pattern.fullmatch(ref):
                continue
            out[name] = ImageChoice(name, ref, name)
    return out
