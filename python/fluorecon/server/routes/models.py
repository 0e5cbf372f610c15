from pathlib import Path

from fastapi import APIRouter, Depends

from fluorecon.server.deps import get_settings, require_token
from fluorecon.server.schemas import ModelInfo, ModelsPublic, error_responses
from fluorecon.server.jobtypes import JOB_TYPES, models_folder

router = APIRouter(prefix="/v1", tags=["models"], dependencies=[Depends(require_token)], responses=error_responses(401))


def _cards(folder: Path | None) -> list[ModelInfo]:
    if folder is None or not folder.is_dir():
        return []
    from fluorecon.core.modelcard import ModelCardError, read_card

    found = []
    for path in sorted(folder.glob("*.onnx")):
        try:
            card = read_card(path)
        except (ModelCardError, OSError, ValueError):
            continue  # a broken file is reported by `fluorecon models`, not by the listing
        found.append(
            ModelInfo(name=card.name, task=card.task, method=card.method, file=path.name,
                      axes_in=card.axes_in, description=card.description)
        )
    return found


@router.get("/models", response_model=ModelsPublic, summary="Methods and models this server runs")
def models(settings=Depends(get_settings)) -> ModelsPublic:
    return ModelsPublic(methods={task: list(t.methods) for task, t in JOB_TYPES.items()}, models=_cards(models_folder(settings)))
