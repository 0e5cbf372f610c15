#!/usr/bin/env python3
"""Build the Fiji update-site tree and a zip that unpacks into Fiji.app (``make dist``).

    dist/update-site/plugins/fluorecon_.jar        the plugin
    dist/update-site/jars/onnxruntime-*.jar        its runtime dependencies (java-plugin/target/deps)
    dist/update-site/models/fluorecon/*.onnx       the shipped models (each card: model.version, model.sha256)
    dist/fluorecon-fiji.zip                        the same files; unzip inside Fiji.app/ (or an ImageJ folder)

Not yet built: the update site's db.xml.gz (Fiji's updater computes it when the tree is uploaded with
``ImageJ --update upload``), per-platform ONNX Runtime natives, the relocation of clashing jars (issue 17 §1, §5).

Usage: ``python scripts/make_dist.py [--out dist]``
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(out: Path, *, plugin_jar: Path, deps_dir: Path, models_dir: Path) -> Path:
    """Lay out `out`/update-site and write `out`/fluorecon-fiji.zip; returns the zip."""
    if not plugin_jar.is_file():
        sys.exit(f"Plugin jar not found: {plugin_jar}. Build it first with `make build`.")
    deps = sorted(p for p in deps_dir.glob("*.jar") if not p.name.startswith("ij-")) if deps_dir.is_dir() else []
    if not deps:
        sys.exit(f"No runtime jars in {deps_dir}; `make build` copies ONNX Runtime there.")
    site = out / "update-site"
    if site.exists():
        shutil.rmtree(site)
    files = {Path("plugins") / "fluorecon_.jar": plugin_jar}
    files.update({Path("jars") / p.name: p for p in deps})
    files.update({Path("models") / "fluorecon" / p.name: p for p in sorted(models_dir.glob("*.onnx"))})
    for rel, src in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, site / rel)
    archive = out / "fluorecon-fiji.zip"
    part = archive.with_suffix(".zip.part")
    with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in sorted(files):
            zf.write(site / rel, rel.as_posix())
    part.replace(archive)
    return archive


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--plugin-jar", type=Path, default=ROOT / "java-plugin/target/fluorecon_.jar")
    parser.add_argument("--deps", type=Path, default=ROOT / "java-plugin/target/deps")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    args = parser.parse_args(argv)
    archive = build(args.out, plugin_jar=args.plugin_jar, deps_dir=args.deps, models_dir=args.models)
    print(f"Update-site tree in {args.out / 'update-site'}; {archive} ({archive.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
