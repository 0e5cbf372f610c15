"""Write every job type's contract as JSON for the Fiji plugin (java-plugin/src/main/resources/org/fluorecon/specs/).

Run after changing a job spec: ``PYTHONPATH=python python scripts/make_spec_resources.py``;
tests/tasks/test_spec_resources.py fails while the files differ from the specs."""

from __future__ import annotations

from pathlib import Path

from fluorecon.tasks import SPEC_RESOURCES, spec_resources


def main() -> None:
    folder = Path(__file__).resolve().parents[1] / SPEC_RESOURCES
    folder.mkdir(parents=True, exist_ok=True)
    files = spec_resources()
    for stale in folder.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        print(folder / name)


if __name__ == "__main__":
    main()
