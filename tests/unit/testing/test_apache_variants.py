"""sitehub.testing.apache_variants: only accepted variants are rendered, and some are refused."""

from __future__ import annotations

import json
import tarfile

from sitehub.testing import apache_variants


def test_only_accepted_variants_reach_rendering(monkeypatch):
    example = apache_variants.example_site()
    verdicts: list[bool] = []
    accepted = apache_variants.accepted

    def judged(example, raw):
        site = accepted(example, raw)
        verdicts.append(site is not None)
        return site

    rendered = []
    render = apache_variants.render_frontend

    def recording(site):
        rendered.append(site)
        return render(site)

    monkeypatch.setattr(apache_variants, "accepted", judged)
    monkeypatch.setattr(apache_variants, "render_frontend", recording)
    result = apache_variants.generate(count=4, seed_value=7)
    assert len(result["accepted"]) == 4
    assert result["refused"] == verdicts.count(False) > 0
    assert len(rendered) == verdicts.count(True) == 4
    for site, (_, values, files) in zip(rendered, result["accepted"], strict=True):
        assert site.sitehub_clusters[0].segment == values["segment"]
        assert site.sitehub_site.public_hostname == values["public_hostname"]
        assert apache_variants.accepted(example, apache_variants.apply(example, values))
        assert f"/jupyterhub/{values['segment']}/" in files["sitehub-site.conf"]


def test_written_for_the_site_suite(tmp_path):
    result = apache_variants.generate(count=2, seed_value=3)
    apache_variants.write(result, tmp_path, 3)
    summary = json.loads((tmp_path / "variants.json").read_text())
    assert summary["seed"] == 3 and summary["refused"] == result["refused"]
    names = [v["name"] for v in summary["accepted"]]
    with tarfile.open(tmp_path / "variants.tar") as tar:
        assert sorted(tar.getnames()) == sorted(
            f"{n}/{f}" for n in names for f in apache_variants.APACHE_FILES
        )


def test_fails_when_it_cannot_make_enough(tmp_path, monkeypatch):
    monkeypatch.setattr(apache_variants, "accepted", lambda example, raw: None)
    assert apache_variants.main([str(tmp_path / "out"), "--count", "2", "--seed", "1"]) == 1
