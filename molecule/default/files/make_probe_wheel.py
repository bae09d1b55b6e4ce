"""Write a tiny pure-Python wheel (stdlib only) to test an offline wheelhouse.

Usage: make_probe_wheel.py OUTDIR
"""

import base64
import hashlib
import sys
import zipfile
from pathlib import Path

NAME, VERSION = "sitehub_probe", "1.0"
FILES = {
    f"{NAME}/__init__.py": f'VERSION = "{VERSION}"\n',
    f"{NAME}-{VERSION}.dist-info/METADATA": (
        f"Metadata-Version: 2.1\nName: sitehub-probe\nVersion: {VERSION}\n"
    ),
    f"{NAME}-{VERSION}.dist-info/WHEEL": (
        "Wheel-Version: 1.0\nGenerator: make_probe_wheel\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n"
    ),
}


def record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def main() -> None:
    out = Path(sys.argv[1]) / f"{NAME}-{VERSION}-py3-none-any.whl"
    out.parent.mkdir(parents=True, exist_ok=True)
    record = f"{NAME}-{VERSION}.dist-info/RECORD"
    lines = [record_line(p, c.encode()) for p, c in FILES.items()] + [f"{record},,"]
    # fixed timestamps: the same bytes every run, so converges stay idempotent
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as whl:
        for path, content in [*FILES.items(), (record, "\n".join(lines) + "\n")]:
            whl.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), content)
    print(out)


if __name__ == "__main__":
    main()
