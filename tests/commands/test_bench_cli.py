from typer.testing import CliRunner

from fluorecon.cli import app


def test_unknown_benchmark_is_refused_with_the_list():
    result = CliRunner().invoke(app, ["bench", "nonsense"])
    assert result.exit_code != 0
    assert "predict" in result.output and "nonsense" in result.output
