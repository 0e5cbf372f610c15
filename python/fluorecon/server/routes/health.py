from fastapi import APIRouter, Depends

import fluorecon
from fluorecon.server.deps import get_settings, get_store
from fluorecon.server.schemas import Health

router = APIRouter(prefix="/v1", tags=["health"])


@router.get("/health", response_model=Health, summary="Is the server up (no token needed)")
def health(settings=Depends(get_settings), store=Depends(get_store)) -> Health:
    return Health(
        version=fluorecon.__version__,
        device=settings.resolved_device(),
        workers=settings.workers,
        queued=store.queued_count(),
        max_queue=settings.max_queue,
    )
