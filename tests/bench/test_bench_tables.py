"""The README figures are the ones bench/results give: scripts/make_bench_tables.py --check, plus its
error paths (a missing key or marker names what to do)."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("make_bench_tables", ROOT / "scripts" / "make_bench_tables.py")
tables = importlib.util.module_from_spec(_spec)
sys.modules["make_bench_tables"] = tables
_spec.loader.exec_module(tables)


def test_committed_readmes_equal_the_generated_figures(capsys):
    assert tables.main(["--check"]) == 0, capsys.readouterr().err


def test_every_marker_in_the_readmes_is_filled():
    for doc in tables.DOCS:
        for m in tables.MARKER.finditer(doc.read_text()):
            assert m.group("body").strip(), f"{doc.name}: marker {m.group('name')} is empty"


def test_missing_key_and_unknown_marker_say_what_to_do():
    with pytest.raises(SystemExit, match=r"deconvolve.json has no key 'figures.no_such_figure.median' \(at 'no_such_figure'\)"):
        tables.get("deconvolve", "figures.no_such_figure.median")
    with pytest.raises(SystemExit, match="unknown bench marker 'nope'"):
        tables.render("<!-- bench:nope -->x<!-- /bench -->", {"known": "y"})
    assert tables.render("a <!-- bench:k -->old<!-- /bench --> b", {"k": "new"}) == "a <!-- bench:k -->new<!-- /bench --> b"
