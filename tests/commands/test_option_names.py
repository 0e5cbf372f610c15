"""One option name per concept across every command (issue 16): a walk over the assembled CLI
(typer → click) fails if any command uses a name of an alias group other than its canonical one;
the old names still work, hidden, and say which name to use; `fluorecon --version` prints it."""

import numpy as np
import typer
from typer.testing import CliRunner

from fluorecon import __version__
from fluorecon.cli import app
from fluorecon.commands.aliases import GROUPS, OLD
from fluorecon.core.io import TiffMeta, read_tiff, write_tiff

runner = CliRunner()


def _leaves(command, path=()):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _leaves(sub, (*path, name))
    else:
        yield " ".join(path), command


def test_every_command_uses_the_canonical_name_of_each_alias_group():
    leaves = dict(_leaves(typer.main.get_command(app)))
    assert len(leaves) > 30 and {"deconvolve", "dip", "fuse", "localize", "unmix", "sim reconstruct"} <= set(leaves)
    offenders = []
    used = {new: set() for new in GROUPS}
    for path, command in leaves.items():
        for p in command.params:
            if p.param_type_name != "option":
                continue
            for name in (*p.opts, *p.secondary_opts):
                if name in OLD:
                    offenders.append(f"{path}: {name} (use {OLD[name]})")
                if name in GROUPS:
                    used[name].add(path)
    assert not offenders, offenders
    # each group is really shared (the walk saw the commands it is about)
    assert {"deconvolve", "fuse", "localize", "unmix", "sim reconstruct"} <= used["--background"]
    assert {"deconvolve", "dip", "fuse", "lightfield reconstruct"} <= used["--num-iter"]
    assert {"localize", "register-table", "sim reconstruct", "deconvolve"} <= used["--pixel-size-nm"]


def test_old_names_are_hidden_aliases_that_name_the_new_one(tmp_path):
    image = np.random.default_rng(0).poisson(30, (32, 32)).astype(np.float32) + 100
    write_tiff(tmp_path / "in.tif", image, TiffMeta(axes="YX", pixel_size_um=0.1))
    common = ["--method", "rl", "--na", "1.2", "--wavelength-nm", "520", "--device", "cpu"]
    new = runner.invoke(app, ["deconvolve", str(tmp_path / "in.tif"), str(tmp_path / "a.tif"), *common,
                              "--num-iter", "3", "--background", "100"])
    assert new.exit_code == 0, new.output
    old = runner.invoke(app, ["deconvolve", str(tmp_path / "in.tif"), str(tmp_path / "b.tif"), *common,
                              "--iterations=3", "--offset", "100"])
    assert old.exit_code == 0, old.output
    assert "--iterations is now --num-iter" in old.output and "--offset is now --background" in old.output
    np.testing.assert_array_equal(read_tiff(tmp_path / "a.tif")[0], read_tiff(tmp_path / "b.tif")[0])
    both = runner.invoke(app, ["deconvolve", str(tmp_path / "in.tif"), str(tmp_path / "c.tif"), *common,
                               "--iterations", "3", "--num-iter", "3"])
    assert both.exit_code == 2 and "give --num-iter once" in both.output
    helptext = runner.invoke(app, ["deconvolve", "--help"], terminal_width=200).output
    assert "--num-iter" in helptext and "--iterations" not in helptext and "--offset" not in helptext


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"fluorecon {__version__}"
