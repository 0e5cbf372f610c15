"""A spec class is the contract: the Fiji plugin's JSON resources and the `fluorecon deconvolve` options are
generated from the job specs, so their defaults, bounds and help cannot drift from what the server validates."""

import json
from pathlib import Path

import typer.main

from fluorecon.cli import app
from fluorecon.tasks import SPEC_RESOURCES, spec_resources
from fluorecon.tasks.deconvolve.spec import DeconvolveSpec, PSFParams

ROOT = Path(__file__).resolve().parents[2]


def test_java_spec_resources_are_up_to_date():
    folder = ROOT / SPEC_RESOURCES
    expected = spec_resources()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.json")}
    assert sorted(on_disk) == sorted(expected), "run: PYTHONPATH=python python scripts/make_spec_resources.py"
    stale = [name for name, text in expected.items() if on_disk[name] != text]
    assert not stale, f"{stale} differ from the specs; run: PYTHONPATH=python python scripts/make_spec_resources.py"


def test_deconvolve_resource_holds_the_defaults_and_bounds_the_plugin_repeated():
    schema = json.loads((ROOT / SPEC_RESOURCES / "deconvolve.json").read_text(encoding="utf-8"))
    fields, psf = schema["properties"], schema["$defs"]["PSFParams"]["properties"]
    assert fields["method"]["default"] == "rl-accel" and fields["method"]["enum"] == ["rl", "rl-accel", "rltv", "wiener"]
    assert (fields["num_iter"]["default"], fields["num_iter"]["minimum"], fields["num_iter"]["maximum"]) == (20, 1, 1000)
    assert (fields["tv_lambda"]["default"], fields["tv_lambda"]["exclusiveMaximum"]) == (0.002, 1)
    assert psf["na"]["examples"] == [1.4] and psf["na"]["maximum"] == 1.7
    assert psf["wavelength_nm"]["examples"] == [520]
    assert (psf["ni"]["default"], psf["ns"]["default"]) == (1.515, 1.33)


def _options(command: str) -> dict:
    click_command = typer.main.get_command(app).commands[command]
    return {opt: param for param in click_command.params for opt in getattr(param, "opts", ())}


def test_deconvolve_cli_options_come_from_the_spec():
    options = _options("deconvolve")
    for flag, spec, name in (("--method", DeconvolveSpec, "method"), ("--num-iter", DeconvolveSpec, "num_iter"),
                             ("--tv-lambda", DeconvolveSpec, "tv_lambda"), ("--balance", DeconvolveSpec, "balance"),
                             ("--background", DeconvolveSpec, "background"), ("--kind", PSFParams, "kind"),
                             ("--ni", PSFParams, "ni"), ("--ns", PSFParams, "ns"),
                             ("--pinhole-au", PSFParams, "pinhole_au"), ("--na", PSFParams, "na")):
        field = spec.model_fields[name]
        param = options[flag]
        assert param.help.startswith(field.description), (flag, param.help)
        assert param.default == (None if field.is_required() else field.default), flag
    # The flags the CLI had before stay as aliases of the generated ones.
    assert options["--iterations"] is options["--num-iter"] and options["--microscope"] is options["--kind"]
