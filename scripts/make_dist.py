#!/usr/bin/env python3
"""Build the Fiji update site, a zip that unpacks into Fiji.app, and the Python wheel (``make dist``).

    dist/fiji/                                      the files as installed in Fiji.app (the zip's content):
      plugins/fluorecon_.jar                          the plugin
      jars/onnxruntime-<v>.jar                        ONNX Runtime's Java classes (no natives)
      jars/<platform>/onnxruntime-natives-<os-arch>-<v>.jar
                                                      one platform's native libraries, without macOS debug
                                                      symbols; platform = linux64, linux-arm64, macos64,
                                                      macos-arm64, win64 (the updater installs only the user's)
      models/fluorecon/*.onnx                         the shipped models (each card: model.version, model.sha256)
      lib/fluorecon/fluorecon-<v>-py3-none-any.whl    the Python package that Server… › Set up installs
    dist/update-site/db.xml.gz + <path>-<timestamp>  the same files as an ImageJ update site serves them
    dist/fluorecon-fiji.zip                         dist/fiji zipped; unzip inside Fiji.app (or an ImageJ folder)
    dist/python/fluorecon-<v>-py3-none-any.whl      the wheel (pip wheel --no-deps)

The zip carries every platform's natives (a folder for all machines); the update site gives each user only their
own. Upload: point a Fiji update site's URL at dist/update-site/ (any static web server serves it as is).

Usage: ``python scripts/make_dist.py [--out dist]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import update_site  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# ONNX Runtime's resource folder per platform → the updater's platform name
ORT_PLATFORMS = {"linux-x64": "linux64", "linux-aarch64": "linux-arm64", "osx-x64": "macos64",
                 "osx-aarch64": "macos-arm64", "win-x64": "win64"}
ORT_NATIVE = "ai/onnxruntime/native/"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # entry dates in the jars we write: the same input gives the same bytes


def _write_jar(dest: Path, src: zipfile.ZipFile, names: list[str]) -> None:
    part = dest.with_name(dest.name + ".part")
    with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for name in names:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.external_attr = src.getinfo(name).external_attr
            info.compress_type = zipfile.ZIP_STORED if name.endswith("/") else zipfile.ZIP_DEFLATED
            out.writestr(info, b"" if name.endswith("/") else src.read(name))
    part.replace(dest)


def split_onnxruntime(jar: Path, dest: Path) -> dict[Path, Path]:
    """ONNX Runtime's all-platform jar → a classes jar and one natives jar per platform (no .dSYM debug symbols).

    ONNX Runtime finds its natives as class-path resources (``/ai/onnxruntime/native/<os-arch>/``), so they load
    from a separate jar on the same class path; Fiji puts ``jars/<platform>/`` on it for the running platform.
    Returns {path relative to Fiji.app: written file}.
    """
    stem = jar.stem  # onnxruntime-1.23.2
    version = stem.split("-", 1)[1] if "-" in stem else "0"
    out: dict[Path, Path] = {}
    with zipfile.ZipFile(jar) as zf:
        names = zf.namelist()
        unknown = {n[len(ORT_NATIVE):].split("/")[0] for n in names if n.startswith(ORT_NATIVE)} - set(ORT_PLATFORMS) - {""}
        if unknown:
            sys.exit(f"{jar.name} has natives for {sorted(unknown)}, which make_dist does not map to a Fiji platform")
        rel = Path("jars") / jar.name
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        _write_jar(dest / rel, zf, [n for n in names if not n.startswith(ORT_NATIVE)])
        out[rel] = dest / rel
        for ort, fiji in ORT_PLATFORMS.items():
            prefix = f"{ORT_NATIVE}{ort}/"
            keep = [n for n in names if n.startswith(prefix) and ".dSYM/" not in n and not n.endswith(".dSYM/")]
            if not keep:
                continue
            parents = [p for p in ("ai/", "ai/onnxruntime/", ORT_NATIVE) if p in names]
            rel = Path("jars") / fiji / f"onnxruntime-natives-{ort}-{version}.jar"
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            _write_jar(dest / rel, zf, parents + keep)
            out[rel] = dest / rel
    return out


def build_wheel(out_dir: Path) -> Path:
    """``pip wheel --no-deps`` of this checkout (no build isolation: the build needs no download)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("fluorecon-*.whl"):
        old.unlink()
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out_dir), str(ROOT)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    # setuptools' scratch folders in the checkout (build/ itself may hold Gradle's output: leave the rest)
    for scratch in [ROOT / "build" / "lib", *(ROOT / "build").glob("bdist.*")]:
        shutil.rmtree(scratch, ignore_errors=True)
    if (ROOT / "build").is_dir() and not any((ROOT / "build").iterdir()):
        (ROOT / "build").rmdir()
    wheels = sorted(out_dir.glob("fluorecon-*.whl"))
    if run.returncode != 0 or len(wheels) != 1:
        sys.exit(f"pip wheel failed ({' '.join(cmd)}):\n{run.stdout}{run.stderr}")
    return wheels[0]


def _timestamp(path: Path) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(path.stat().st_mtime))


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def build(out: Path, *, plugin_jar: Path, deps_dir: Path, models_dir: Path, wheel: Path | None = None) -> Path:
    """Lay out `out`/fiji and `out`/update-site and write `out`/fluorecon-fiji.zip; returns the zip."""
    if not plugin_jar.is_file():
        sys.exit(f"Plugin jar not found: {plugin_jar}. Build it first with `make build`.")
    deps = sorted(p for p in deps_dir.glob("*.jar") if not p.name.startswith("ij-")) if deps_dir.is_dir() else []
    if not any(p.name.startswith("onnxruntime") for p in deps):
        sys.exit(f"No ONNX Runtime jar in {deps_dir}; `make build` copies it there.")
    tree, site = out / "fiji", out / "update-site"
    for folder in (tree, site):
        if folder.exists():
            shutil.rmtree(folder)
    tree.mkdir(parents=True)
    sources = {Path("plugins") / "fluorecon_.jar": plugin_jar}
    sources.update({Path("models") / "fluorecon" / p.name: p for p in sorted(models_dir.glob("*.onnx"))})
    if wheel is not None:
        sources[Path("lib") / "fluorecon" / wheel.name] = wheel
    for p in deps:
        if not p.name.startswith("onnxruntime"):
            sources[Path("jars") / p.name] = p
    for rel, src in sources.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, tree / rel)
    for ort in (p for p in deps if p.name.startswith("onnxruntime")):
        split_onnxruntime(ort, tree)
    files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())

    entries = []
    jars = [f for f in files if f.startswith("jars/")]
    for rel in files:
        path = tree / rel
        entries.append(update_site.Entry(
            filename=rel, checksum=update_site.checksum(rel, path), timestamp=_timestamp(path),
            filesize=path.stat().st_size, platforms=[p] if (p := update_site.platform_of(rel)) else [],
            # the plugin needs ONNX Runtime: the classes jar and (per platform, the updater skips the others) natives
            dependencies=jars if rel == "plugins/fluorecon_.jar" else [],
            description=_describe(rel), authors=["fluorecon"] if rel.startswith(("plugins/", "models/", "lib/")) else []))
    site.mkdir(parents=True)
    for e in entries:
        _link_or_copy(tree / e.filename, site / f"{e.filename}-{e.timestamp}")
    update_site.write_db(site / "db.xml.gz", entries)

    archive = out / "fluorecon-fiji.zip"
    part = archive.with_suffix(".zip.part")
    with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in files:
            zf.write(tree / rel, rel)
    part.replace(archive)
    return archive


def _describe(rel: str) -> str | None:
    if rel == "plugins/fluorecon_.jar":
        return "fluorecon: fluorescence image reconstruction (Plugins > fluorecon)"
    if rel.startswith("jars/") and "onnxruntime-natives" in rel:
        return "ONNX Runtime native libraries for one platform (CPU)"
    if rel.startswith("jars/onnxruntime"):
        return "ONNX Runtime for Java (classes; natives in jars/<platform>/)"
    if rel.startswith("models/"):
        return "fluorecon shipped model (ONNX with its card)"
    if rel.startswith("lib/fluorecon/"):
        return "fluorecon Python package, installed by Plugins > fluorecon > Server... > Set up"
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--plugin-jar", type=Path, default=ROOT / "java-plugin/target/fluorecon_.jar")
    parser.add_argument("--deps", type=Path, default=ROOT / "java-plugin/target/deps")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--no-wheel", action="store_true", help="leave the Python wheel out")
    args = parser.parse_args(argv)
    wheel = None if args.no_wheel else build_wheel(args.out / "python")
    archive = build(args.out, plugin_jar=args.plugin_jar, deps_dir=args.deps, models_dir=args.models, wheel=wheel)
    site = args.out / "update-site"
    tree = args.out / "fiji"
    platform_of = update_site.platform_of
    linux = sum(p.stat().st_size for p in tree.rglob("*")
                if p.is_file() and platform_of(p.relative_to(tree).as_posix()) in (None, "linux64"))
    print(f"Update site in {site} (db.xml.gz); Fiji.app tree in {args.out / 'fiji'}; "
          f"{archive} ({archive.stat().st_size / 1e6:.1f} MB, all platforms); a linux64 install: {linux / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
