"""`make dist`: the Fiji.app tree, the update site (db.xml.gz + timestamped files) and the zip.

Unpacked into a clean ImageJ folder, the plugin's Models… command lists every shipped model with its version and
sha256, and Denoise… runs a shipped model through the linux-x64 ONNX Runtime natives of the per-platform jar."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fluorecon.core.io import TiffMeta, read_tiff, write_tiff
from fluorecon.core.modelcard import read_card

ROOT = Path(__file__).resolve().parents[1]
JAR = ROOT / "java-plugin" / "target" / "fluorecon_.jar"
ORT_JAR = next(iter(sorted((JAR.parent / "deps").glob("onnxruntime-*.jar"))), None)
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests" / "bridge"))

pytestmark = pytest.mark.skipif(not JAR.is_file() or ORT_JAR is None, reason="plugin jar not built (make build)")
# The plugin's classes are Java 11 (Launch: Java 8); the install test runs on the java on PATH (17 here) and on a
# Java 25 where one is installed (/usr/lib/jvm), there with the flag that silences ONNX Runtime's restricted-method
# warning (System::load) on Java 24+.
JAVA25 = next(iter(sorted(Path("/usr/lib/jvm").glob("*25*/bin/java"))), None)
JAVAS = [pytest.param(("java", []), id="java-on-path"),
         pytest.param((str(JAVA25), ["--enable-native-access=ALL-UNNAMED"]), id="java-25",
                      marks=pytest.mark.skipif(JAVA25 is None, reason="no Java 25 in /usr/lib/jvm"))]
needs_imagej = pytest.mark.skipif(shutil.which("java") is None or shutil.which("xvfb-run") is None,
                                  reason="needs java and xvfb-run (make setup)")


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    import make_dist

    out = tmp_path_factory.mktemp("dist")
    wheel = out / "fluorecon-0.0.0-py3-none-any.whl"  # a stand-in: building the real wheel is make_dist's own step
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("fluorecon/__init__.py", "")
    archive = make_dist.build(out, plugin_jar=JAR, deps_dir=JAR.parent / "deps", models_dir=ROOT / "models",
                              wheel=wheel)
    return out, archive


def _tree_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_update_site_index_lists_every_file_with_the_updaters_checksum(dist):
    import update_site

    out, archive = dist
    tree, site = out / "fiji", out / "update-site"
    files = _tree_files(tree)
    assert sorted(zipfile.ZipFile(archive).namelist()) == files
    entries = {e.filename: e for e in update_site.read_db(site / "db.xml.gz")}
    assert sorted(entries) == files
    served = [f for f in _tree_files(site) if f != "db.xml.gz"]
    assert sorted(served) == sorted(f"{e.filename}-{e.timestamp}" for e in entries.values())
    for name, e in entries.items():
        copy = site / f"{name}-{e.timestamp}"
        assert copy.stat().st_size == e.filesize, name
        assert update_site.checksum(name, copy) == e.checksum, name
        assert len(e.timestamp) == 14 and e.timestamp.isdigit()
    plugin = entries["plugins/fluorecon_.jar"]
    assert set(plugin.dependencies) == {f for f in files if f.startswith("jars/")}
    natives = {f: entries[f].platforms for f in files if f.startswith("jars/") and f.count("/") == 2}
    assert sorted(p for ps in natives.values() for p in ps) == sorted(update_site.PLATFORMS)
    assert all(f.split("/")[1] == ps[0] for f, ps in natives.items())
    assert [m.name for m in sorted((ROOT / "models").glob("*.onnx"))] == \
        [f.split("/")[-1] for f in files if f.startswith("models/fluorecon/")]
    assert [f for f in files if f.startswith("lib/fluorecon/")] == ["lib/fluorecon/fluorecon-0.0.0-py3-none-any.whl"]


def test_onnxruntime_is_split_per_platform_without_debug_symbols(dist):
    out, archive = dist
    tree = out / "fiji"
    with zipfile.ZipFile(ORT_JAR) as src:
        original = {i.filename: i.file_size for i in src.infolist()}
    classes = zipfile.ZipFile(tree / "jars" / ORT_JAR.name).namelist()
    assert not [n for n in classes if n.startswith("ai/onnxruntime/native/")]
    assert [n for n in classes if n.endswith(".class")] == [n for n in original if n.endswith(".class")]
    shipped = set(classes)
    for jar in (tree / "jars").glob("*/*.jar"):
        names = zipfile.ZipFile(jar).namelist()
        ort_platform = jar.name.split("-natives-")[1].rsplit("-", 1)[0]
        libs = [n for n in names if not n.endswith("/")]
        assert libs and all(n.startswith(f"ai/onnxruntime/native/{ort_platform}/") for n in libs), jar
        assert not [n for n in names if ".dSYM" in n]
        shipped |= set(names)
    # everything of the original jar is shipped except the macOS debug symbols
    assert sorted(set(original) - shipped) == sorted(n for n in original if ".dSYM" in n)
    linux = sum((tree / f).stat().st_size for f in _tree_files(tree)
                if not f.startswith("jars/") or f.count("/") == 1 or f.startswith("jars/linux64/"))
    # measured 2026-12: ORT's jar is 75 MB; a linux64 install is ~21 MB, the all-platform zip ~54 MB
    assert linux < 30e6, f"{linux / 1e6:.1f} MB for a linux64 install"
    assert archive.stat().st_size < 0.8 * ORT_JAR.stat().st_size


@needs_imagej
@pytest.mark.parametrize("java", JAVAS)
def test_dist_zip_installs_into_a_clean_imagej_and_runs_models_and_denoise(dist, tmp_path, java):
    import install_imagej
    from ijbridge import TILE, assert_matches, noisy_planes, python_reference

    _, archive = dist
    ij = tmp_path / "ImageJ"  # clean: ij.jar only, then the zip unpacked over it
    ij.mkdir()
    (jar,) = [p for p in install_imagej.resolve([("net.imagej", "ij", install_imagej.IJ_VERSION)], tmp_path / "m2")
              if p.name.startswith("ij-")]
    shutil.copy2(jar, ij / "ij.jar")
    zipfile.ZipFile(archive).extractall(ij)
    table = tmp_path / "models.csv"
    sample = tmp_path / "cells.tif"
    image = noisy_planes((64, 64), seed=3)
    write_tiff(sample, image, TiffMeta(axes="YX", pixel_size_um=0.1))
    model = ij / "models" / "fluorecon" / "care_denoise_2d.onnx"
    out = tmp_path / "denoised.tif"
    macro = tmp_path / "fresh.ijm"
    macro.write_text(f'run("Models...", "save=[{table}]");\n'
                     f'open("{sample}");\nrun("Denoise...", "model_file=[{model}] tile={TILE} threads=2 save=[{out}]");\n')
    # plain ImageJ1 has no Fiji launcher: put jars/ and this platform's jars/linux64/ on the class path as Fiji does
    java_exe, java_flags = java
    cmd = ["xvfb-run", "-a", java_exe, *java_flags, "-Xmx1g", f"-Dij.dir={ij}", f"-Dplugins.dir={ij}", "-cp",
           f"{ij / 'ij.jar'}:{ij / 'jars'}/*:{ij / 'jars' / 'linux64'}/*", "ij.ImageJ", "-ijpath", str(ij),
           "-batch", str(macro)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert table.is_file(), run.stdout + run.stderr
    assert "restricted method" not in run.stderr, run.stderr
    rows = list(csv.DictReader(table.open()))
    models = sorted((ROOT / "models").glob("*.onnx"))
    assert sorted(Path(r["file"]).name for r in rows) == [m.name for m in models]
    for row in rows:
        card = read_card(ROOT / "models" / Path(row["file"]).name)
        assert (row["model.version"], row["model.sha256"]) == (card.model_version, card.model_sha256)
        assert Path(row["file"]).parent == ij / "models" / "fluorecon"
    assert out.is_file(), run.stdout + run.stderr
    result, _ = read_tiff(out)
    expected = python_reference(image[None, None, None].astype(np.float32), model)[0, 0, 0]
    assert_matches(np.asarray(result, np.float32).reshape(expected.shape), expected)
