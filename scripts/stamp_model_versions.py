"""Give every model card in models/ (or the folders given) a model.version and model.sha256.

Idempotent: a card that already has a version keeps it; model.sha256 is (re)computed from the graph by
core.modelcard.write_card. Run it after merging model files from another branch.

    python scripts/stamp_model_versions.py [FOLDER ...] [--version 1.0.0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fluorecon.core.modelcard import DEFAULT_MODEL_VERSION, _load_onnx, ModelCard, write_card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, default=[Path(__file__).resolve().parents[1] / "models"])
    parser.add_argument("--version", default=DEFAULT_MODEL_VERSION, help="version for cards that have none")
    args = parser.parse_args()
    for folder in args.folders:
        for path in sorted(folder.glob("*.onnx")):
            meta = {p.key: p.value for p in _load_onnx(path).metadata_props}
            card = ModelCard.from_metadata(meta)  # not read_card: a stale sha256 is what this script fixes
            write_card(path, card.model_copy(update={"model_version": card.model_version or args.version}))
            print(f"{path.name}: model.version {card.model_version or args.version}")


if __name__ == "__main__":
    main()
