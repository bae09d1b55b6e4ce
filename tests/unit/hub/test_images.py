"""Container images a form offers (sitehub.hub.images)."""

import pytest

from sitehub.hub.images import ImageChoice, image_choices


def test_inventory_images_with_descriptions():
    got = image_choices(
        [
            {"name": "el9", "ref": "/cvmfs/unpacked.cern.ch/el9.sif", "description": "EL9"},
            {"name": "root", "ref": "docker://rootproject/root:6.32"},
            {"name": "nb", "ref": "localhost/sitehub-notebook:test"},
        ]
    )
    assert got == {
        "el9": ImageChoice("el9", "/cvmfs/unpacked.cern.ch/el9.sif", "EL9"),
        "root": ImageChoice("root", "docker://rootproject/root:6.32", "root"),
        "nb": ImageChoice("nb", "localhost/sitehub-notebook:test", "nb"),
    }


@pytest.mark.parametrize(
    "image, message",
    [
        ({"name": "x", "ref": "-v /:/host"}, "image reference '-v /:/host' is not allowed"),
        ({"name": "x", "ref": "/a.sif; rm -rf ~"}, "is not allowed"),
        ({"name": "x", "ref": ""}, "is not allowed"),
        ({"name": "none", "ref": "/a.sif"}, "image name 'none' is not allowed"),
        ({"name": "a b", "ref": "/a.sif"}, "image name 'a b' is not allowed"),
    ],
)
def test_unusable_inventory_images_are_a_site_error(image, message):
    with pytest.raises(ValueError, match=message):
        image_choices([image])


def test_sif_files_in_image_dirs_are_offered_odd_names_skipped(tmp_path):
    for name in ("el9.sif", "cuda-12.sif", "bad name.sif", "notes.txt"):
        (tmp_path / name).write_text("")
    got = image_choices(
        [{"name": "el9", "ref": "/cvmfs/el9.sif"}], [str(tmp_path), str(tmp_path / "gone")]
    )
    # the inventory's el9 wins over the file of the same name
    assert got == {
        "el9": ImageChoice("el9", "/cvmfs/el9.sif", "el9"),
        "cuda-12": ImageChoice("cuda-12", str(tmp_path / "cuda-12.sif"), "cuda-12"),
    }
