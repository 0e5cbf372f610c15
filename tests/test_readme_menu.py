"""The README's menu table lists exactly the plugin's menu commands: those of the @Menu annotations, from which the
build generates plugins.config (and, when the jar is built, its plugins.config says the same)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JAVA = ROOT / "java-plugin" / "src" / "main" / "java"
MENU = "Plugins>fluorecon"  # PluginsConfig.MENU, @Menu's default path
_ANNOTATION = re.compile(r'@Menu\(\s*(?:path\s*=\s*"([^"]*)"\s*,\s*)?label\s*=\s*"([^"]+)"\s*\)')
_CONFIG_LINE = re.compile(r'^\s*([^#,][^,]*),\s*"([^"]+)",\s*\S', re.M)


def readme_name(path: str, label: str) -> str:
    """How the README names a menu item: "Denoise…", or "Denoise › Train on this image…" in a submenu."""
    sub = path[len(MENU):].strip(">").replace(">", " › ") if path.startswith(MENU) else path.replace(">", " › ")
    item = label.replace("...", "…")
    return f"{sub} › {item}" if sub else item


def annotated_commands() -> set[str]:
    found = set()
    for source in JAVA.rglob("*.java"):
        for m in _ANNOTATION.finditer(source.read_text(encoding="utf-8")):
            found.add(readme_name(m.group(1) or MENU, m.group(2)))
    return found


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Menu (Plugins › fluorecon)", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # after the header and the rule
    return [row.split("|")[1].strip() for row in rows]


def test_annotation_pattern_reads_both_forms():
    assert readme_name(MENU, "Denoise...") == "Denoise…"
    assert readme_name(MENU + ">Denoise", "Train on this image...") == "Denoise › Train on this image…"
    text = '@Menu(label = "A...")\nclass A {}\n@Menu(path = "Plugins>fluorecon>B", label = "C...")'
    assert [m.groups() for m in _ANNOTATION.finditer(text)] == [(None, "A..."), ("Plugins>fluorecon>B", "C...")]


def test_readme_menu_table_lists_exactly_the_menu_commands():
    listed = readme_commands()
    assert len(listed) == len(set(listed)), f"the README lists a command twice: {listed}"
    commands = annotated_commands()
    assert len(commands) >= 10, commands  # the pattern still finds the annotations
    assert not set(listed) - commands, f"the README lists menu items the plugin lacks: {sorted(set(listed) - commands)}"
    assert not commands - set(listed), f"menu items missing from the README's table: {sorted(commands - set(listed))}"


def test_built_plugins_config_agrees_with_the_annotations():
    jar = ROOT / "java-plugin" / "target" / "fluorecon_.jar"
    if not jar.is_file():
        pytest.skip("plugin jar not built; the annotations above are the source of truth")
    with zipfile.ZipFile(jar) as z:
        config = z.read("plugins.config").decode("utf-8")
    built = {readme_name(m.group(1).strip(), m.group(2)) for m in _CONFIG_LINE.finditer(config)}
    assert built == annotated_commands()
