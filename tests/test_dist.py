"""`make dist`: the update-site tree and zip; unpacked into a clean ImageJ folder, the plugin's Models… menu
command runs from a macro there and lists every shipped model with its version and sha256."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fluorecon.core.modelcard import read_card

ROOT = Path(__file__).resolve().parents[1]
JAR = ROOT / "java-plugin" / "target" / "fluorecon_.jar"
sys.path.insert(0, str(ROOT / "scripts"))

pytestmark = [
    pytest.mark.skipif(not JAR.is_file(), reason="plugin jar not built (make build)"),
    pytest.mark.skipif(shutil.which("java") is None or shutil.which("xvfb-run") is None,
                       reason="needs java and xvfb-run (make setup)"),
]


def test_dist_zip_installs_into_a_clean_imagej_and_runs_a_menu_command(tmp_path):
    import install_imagej
    import make_dist

    archive = make_dist.build(tmp_path / "dist", plugin_jar=JAR, deps_dir=JAR.parent / "deps",
                              models_dir=ROOT / "models")
    names = zipfile.ZipFile(archive).namelist()
    models = sorted((ROOT / "models").glob("*.onnx"))
    assert "plugins/fluorecon_.jar" in names and any(n.startswith("jars/onnxruntime") for n in names)
    assert sorted(n for n in names if n.startswith("models/fluorecon/")) == [f"models/fluorecon/{m.name}" for m in models]
    assert sorted(p.relative_to(tmp_path / "dist" / "update-site").as_posix()
                  for p in (tmp_path / "dist" / "update-site").rglob("*") if p.is_file()) == sorted(names)

    ij = tmp_path / "ImageJ"  # clean: ij.jar only, then the zip unpacked over it
    ij.mkdir()
    (jar,) = [p for p in install_imagej.resolve([("net.imagej", "ij", install_imagej.IJ_VERSION)], tmp_path / "m2")
              if p.name.startswith("ij-")]
    shutil.copy2(jar, ij / "ij.jar")
    zipfile.ZipFile(archive).extractall(ij)
    table = tmp_path / "models.csv"
    macro = tmp_path / "models.ijm"
    macro.write_text(f'run("Models...", "save=[{table}]");\n')
    cmd = ["xvfb-run", "-a", "java", "-Xmx1g", f"-Dij.dir={ij}", f"-Dplugins.dir={ij}", "-cp",
           f"{ij / 'ij.jar'}:{ij / 'jars'}/*", "ij.ImageJ", "-ijpath", str(ij), "-batch", str(macro)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert table.is_file(), run.stdout + run.stderr
    rows = list(csv.DictReader(table.open()))
    assert sorted(Path(r["file"]).name for r in rows) == [m.name for m in models]
    for row in rows:
        card = read_card(ROOT / "models" / Path(row["file"]).name)
        assert (row["model.version"], row["model.sha256"]) == (card.model_version, card.model_sha256)
        assert Path(row["file"]).parent == ij / "models" / "fluorecon"
