"""Apache configurations of generated site variants, for `apache2ctl -t` on a test host.

The unit properties (tests/unit/render/test_hostile.py) check the rendered Apache files'
structure with a model of httpd's parser; this writes the real files for the real parser.
Hypothesis puts generated values (hostile text, and values at the edges of what validation
accepts) into the fields of the example site that reach the Apache configuration. Each
variant is validated as `sitehub validate` does; only the accepted ones are rendered, and
the run fails unless some were refused too (the generator is not only making easy sites).

    python -m sitehub.testing.apache_variants OUT [--count N] [--seed S]

writes OUT/variants.tar (<name>/ports.conf, sitehub-server.conf, sitehub-site.conf per
variant) and OUT/variants.json ({"accepted": [{"name", "values"}], "refused": K, "seed"}).
The site suite tests/site/configs.yml runs Apache on each (tests/site/files/apache-variant.conf).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import random
import sys
import tarfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from sitehub.inventory import load_inventory, validate_loaded
from sitehub.inventory.loader import LoadedInventory
from sitehub.inventory.model import SiteModel
from sitehub.inventory.validate import _plain
from sitehub.render.frontend import render_frontend
from sitehub.testing.hostile import hostile
from sitehub.wheelhouse import repo_root

APACHE_FILES = ("ports.conf", "sitehub-server.conf", "sitehub-site.conf")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"


def _mostly(edge: st.SearchStrategy, odd: st.SearchStrategy) -> st.SearchStrategy:
    """edge four times in five, else odd: one hostile field in a site is enough for it
    to be refused, so most sites get values at the edges of what validation accepts."""
    return st.integers(0, 4).flatmap(lambda i: odd if i == 0 else edge)


# Each field that reaches the vhost: values at the edges of what validation accepts
# (dashes, digits only, the longest instance name <segment>-<route> of 31), or hostile
# text and the patterns' wider alphabets (upper case, '_': refused in instance names).
FIELDS = {
    "segment": _mostly(
        st.from_regex(r"[a-z][a-z0-9-]{0,17}", fullmatch=True),
        hostile | st.from_regex(r"[a-z0-9-]{1,29}", fullmatch=True),
    ),
    "route": _mostly(
        st.from_regex(r"[a-z0-9][a-z0-9-]{0,11}", fullmatch=True),
        hostile | st.from_regex(r"[A-Za-z0-9_-]{1,29}", fullmatch=True),
    ),
    "public_hostname": _mostly(
        st.from_regex(rf"{_LABEL}(?:\.{_LABEL}){{0,3}}", fullmatch=True), hostile
    ),
    "public_port": _mostly(st.sampled_from([443, 8443]), st.integers(1, 65535)),
    "instance_port": _mostly(st.integers(1024, 65454), st.integers(1, 65535)),
}


def example_site() -> LoadedInventory:
    return load_inventory(repo_root(Path(__file__).parent) / "inventories" / "example-site")


def apply(example: LoadedInventory, values: dict[str, Any]) -> dict[str, Any]:
    """The example's site variables with the generated values in their fields."""
    raw = {name: copy.deepcopy(_plain(value)) for name, value in example.site_vars.items()}
    raw["sitehub_secrets"] = example.site_vars["sitehub_secrets"]  # still recognisably vaulted
    site, cluster = raw["sitehub_site"], raw["sitehub_clusters"][0]
    cluster["segment"] = values["segment"]
    cluster["instances"][0]["route"] = values["route"]
    cluster["instances"][0]["port"] = values["instance_port"]
    site["public_hostname"] = values["public_hostname"]
    site["public_port"] = values["public_port"]
    return raw


def accepted(example: LoadedInventory, raw: dict[str, Any]) -> SiteModel | None:
    """The site if validation (its render dry run included) accepts it, else None."""
    loaded = copy.copy(example)
    loaded.site_vars = raw
    loaded.problems = []
    if validate_loaded(loaded):
        return None
    return SiteModel.model_validate(raw)


def generate(count: int, seed_value: int, attempts: int | None = None) -> dict[str, Any]:
    """{"accepted": [(name, values, files)], "refused": K}: up to count accepted variants."""
    example = example_site()
    out: dict[str, Any] = {"accepted": [], "refused": 0}

    @seed(seed_value)
    @settings(
        max_examples=attempts or count * 10,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(values=st.fixed_dictionaries(FIELDS))
    def collect(values: dict[str, Any]) -> None:
        if len(out["accepted"]) >= count:
            return
        site = accepted(example, apply(example, values))
        if site is None:
            out["refused"] += 1
            return
        files = render_frontend(site)
        name = f"v{len(out['accepted']):03d}"
        out["accepted"].append((name, values, {f: files[f] for f in APACHE_FILES}))

    collect()
    return out


def write(result: dict[str, Any], folder: Path, seed_value: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "variants.tar", "w") as tar:
        for name, _, files in result["accepted"]:
            for file, text in files.items():
                data = text.encode("utf-8")
                info = tarfile.TarInfo(f"{name}/{file}")
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    summary = {
        "seed": seed_value,
        "refused": result["refused"],
        "accepted": [{"name": n, "values": v} for n, v, _ in result["accepted"]],
    }
    (folder / "variants.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    for name, _, files in result["accepted"]:  # readable copies, for a failure's review
        for file, text in files.items():
            (folder / name).mkdir(exist_ok=True)
            (folder / name / file).write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None, help="default: a random one, printed")
    args = parser.parse_args(argv)
    seed_value = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    result = generate(args.count, seed_value)
    write(result, args.out, seed_value)
    got, refused = len(result["accepted"]), result["refused"]
    print(f"{got} accepted variant(s), {refused} refused, seed {seed_value}: {args.out}")
    if got < args.count or refused == 0:
        print(
            f"expected {args.count} accepted and some refused (seed {seed_value})",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
