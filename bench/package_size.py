"""Package size: the shared layer and each function asset, zipped as CDK ships them.

Built the way stacks/layers.py bundles them (a plain copy, nothing compiled or vendored): the
runtime library layer is `python/snapback/...` without caches; each function asset is its folder
under functions/. Boto3/botocore come with the Lambda Python runtime and Powertools from the
AWS-published layer, so neither is in our zips; their installed sizes are shown for scale.

    .venv/bin/python bench/package_size.py
"""

from __future__ import annotations

import fnmatch
import io
import zipfile
from importlib import metadata
from pathlib import Path

from common import ROOT, save

IGNORED = ("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache", ".ruff_cache")


def files(base: Path) -> list[Path]:
    out = []
    for path in sorted(base.rglob("*")):
        if path.is_file() and not any(fnmatch.fnmatch(part, pattern) for part in path.parts for pattern in IGNORED):
            out.append(path)
    return out


def zipped(entries: list[tuple[Path, str]]) -> tuple[int, int, list[tuple[str, int]]]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, name in entries:
            archive.write(path, name)
    with zipfile.ZipFile(buffer) as archive:
        infos = archive.infolist()
    raw = sum(i.file_size for i in infos)
    top = sorted(((i.filename, i.compress_size) for i in infos), key=lambda item: -item[1])[:8]
    return len(buffer.getvalue()), raw, top


def installed(distribution: str) -> int:
    dist = metadata.distribution(distribution)
    return sum(Path(str(dist.locate_file(f))).stat().st_size for f in dist.files or [] if dist.locate_file(f).exists())


def main() -> None:
    assets = {
        "layer: snapback runtime library": [
            (p, f"python/{p.relative_to(ROOT / 'layers')}") for p in files(ROOT / "layers" / "snapback")
        ]
    }
    for function in sorted(p for p in (ROOT / "functions").iterdir() if p.is_dir()):
        assets[f"function: {function.name}"] = [(p, str(p.relative_to(function))) for p in files(function)]
    rows = {}
    for name, entries in assets.items():
        size, raw, top = zipped(entries)
        rows[name] = {"files": len(entries), "zip_bytes": size, "unzipped_bytes": raw, "top": top}
        print(f"{name:<36} {len(entries):4} files  zip {size / 1024:7.1f} KiB  unzipped {raw / 1024:7.1f} KiB")
        for entry, compressed in top[:5]:
            print(f"    {compressed / 1024:6.1f} KiB  {entry}")
    provided = {}
    for dist in ("boto3", "botocore", "s3transfer", "aws-lambda-powertools"):
        try:
            provided[dist] = {"version": metadata.version(dist), "installed_bytes": installed(dist)}
        except metadata.PackageNotFoundError:
            continue
    for dist, row in provided.items():
        print(f"provided by the platform: {dist} {row['version']}: {row['installed_bytes'] / 2**20:.1f} MiB installed")
    save("package_size", {"assets": rows, "provided": provided})


if __name__ == "__main__":
    main()
