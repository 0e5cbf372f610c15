#!/usr/bin/env python3
"""Lay out a local ImageJ1 folder that runs the fluorecon plugin.

Result (``imagej/`` by default, git-ignored)::

    imagej/ij.jar                      ImageJ1 (net.imagej:ij from Maven Central)
    imagej/plugins/fluorecon_.jar      the plugin (built by ``make build``)
    imagej/jars/*.jar                  ONNX Runtime for Java (the plugin's runtime deps)
    imagej/models/fluorecon/*.onnx     shipped models, listed by Plugins > fluorecon > Models...
    imagej/patcher/*.jar               net.imagej:ij1-patcher + javassist, for headless runs
    imagej/run-macro                   runs a macro: ``imagej/run-macro m.ijm`` (under Xvfb when needed)

Maven does the downloading (``mvn dependency:copy-dependencies`` over a generated pom), so the
artifacts land in ``~/.m2`` once and a second run is offline. ``jars/`` follows Fiji's layout:
to install into an existing Fiji, copy ``plugins/fluorecon_.jar`` to ``Fiji.app/plugins/`` and
``jars/onnxruntime-*.jar`` to ``Fiji.app/jars/``. Plain ImageJ1 does not put ``jars/`` on its
class path, so the launcher passes it with ``-cp``.

Usage: ``python scripts/install_imagej.py [--dest imagej] [--force]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IJ_VERSION = "1.54p"
# 1.2.6 and 2.0.0 both patch ij 1.54p headless (measured: both need
# --add-opens=java.base/java.lang=ALL-UNNAMED on Java 17); 1.2.6 needs one jar fewer (no classgraph).
PATCHER_VERSION = "1.2.6"
ORT_FALLBACK_VERSION = "1.23.2"

POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.fluorecon</groupId><artifactId>imagej-install</artifactId><version>0</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""
DEP = "    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"


def resolve(coords: list[tuple[str, str, str]], out_dir: Path) -> list[Path]:
    """Copy the jars of ``coords`` (group, artifact, version) and their runtime deps to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(POM.format(deps="\n".join(DEP.format(g=g, a=a, v=v) for g, a, v in coords)))
        cmd = [
            "mvn", "-q", "-B", "-Dstyle.color=never", "-f", str(pom), "dependency:copy-dependencies",
            f"-DoutputDirectory={out_dir}", "-DincludeScope=runtime",
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except FileNotFoundError:
            sys.exit("Maven (mvn) is not installed; run `make setup` first.")
        if proc.returncode != 0:
            sys.exit(f"Maven could not resolve {coords} (exit {proc.returncode}); is Maven Central reachable?\n"
                     f"{(proc.stdout + proc.stderr)[-2000:]}")
    return sorted(out_dir.glob("*.jar"))


def install(dest: Path, *, plugin_jar: Path, deps_dir: Path, models: list[Path], force: bool) -> None:
    if not plugin_jar.is_file():
        sys.exit(f"Plugin jar not found: {plugin_jar}. Build it first with `make build`.")
    if force and dest.exists():
        shutil.rmtree(dest)
    for sub in ("plugins", "jars", "models/fluorecon", "patcher"):
        (dest / sub).mkdir(parents=True, exist_ok=True)

    if not (dest / "ij.jar").is_file():
        with tempfile.TemporaryDirectory() as tmp:
            (jar,) = [p for p in resolve([("net.imagej", "ij", IJ_VERSION)], Path(tmp)) if p.name.startswith("ij-")]
            shutil.copy2(jar, dest / "ij.jar")

    if not any((dest / "patcher").glob("ij1-patcher-*.jar")):
        jars = resolve([("net.imagej", "ij1-patcher", PATCHER_VERSION)], dest / "patcher")
        # ij.jar itself sits at the top; a second copy here would shadow it on the class path.
        for jar in jars:
            if jar.name.startswith("ij-"):
                jar.unlink()

    shutil.copy2(plugin_jar, dest / "plugins" / "fluorecon_.jar")

    # Replace runtime deps wholesale: two ONNX Runtime versions on one class path load two
    # native libraries and the second fails.
    for old in (dest / "jars").glob("*.jar"):
        old.unlink()
    dep_jars = sorted(p for p in deps_dir.glob("*.jar") if not p.name.startswith("ij-")) if deps_dir.is_dir() else []
    if not dep_jars:
        dep_jars = resolve([("com.microsoft.onnxruntime", "onnxruntime", ORT_FALLBACK_VERSION)], dest / "jars")
    else:
        for jar in dep_jars:
            shutil.copy2(jar, dest / "jars" / jar.name)

    for model in models:
        shutil.copy2(model, dest / "models" / "fluorecon" / model.name)

    launcher = dest / "run-macro"
    launcher.write_text(
        "#!/usr/bin/env bash\n"
        "# Run an ImageJ macro with the fluorecon plugin: run-macro MACRO.ijm [ARG]\n"
        "# ImageJ1's menus need a display even in -batch mode, so use Xvfb when there is none.\n"
        "set -euo pipefail\n"
        'here="$(cd "$(dirname "$0")" && pwd)"\n'
        'cp="$here/ij.jar:$here/jars/*"\n'
        'cmd=(java -Xmx4g -Dij.dir="$here" -Dplugins.dir="$here" -cp "$cp" ij.ImageJ -ijpath "$here" -batch "$@")\n'
        'if [ -z "${DISPLAY:-}" ]; then exec xvfb-run -a "${cmd[@]}"; else exec "${cmd[@]}"; fi\n'
    )
    launcher.chmod(0o755)
    print(f"ImageJ with fluorecon installed in {dest}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=ROOT / "imagej", help="ImageJ folder to create")
    parser.add_argument("--plugin-jar", type=Path, default=ROOT / "java-plugin/target/fluorecon_.jar")
    parser.add_argument("--deps", type=Path, default=ROOT / "java-plugin/target/deps")
    parser.add_argument("--models", type=Path, nargs="*", default=None, help="ONNX models (default: models/*.onnx)")
    parser.add_argument("--force", action="store_true", help="start from an empty folder")
    args = parser.parse_args(argv)
    models = args.models if args.models is not None else sorted((ROOT / "models").glob("*.onnx"))
    install(args.dest.resolve(), plugin_jar=args.plugin_jar, deps_dir=args.deps, models=models, force=args.force)


if __name__ == "__main__":
    main()
