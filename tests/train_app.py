"""The real app page with the Train tab, served in-process for the Train tab's tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import launch_in_process


@contextlib.contextmanager
def serve_with_train_tab(
    tmp: Path,
    max_seconds: float = 60,
    min_seconds: float = 2,
    hub_endpoint: str | None = None,
    zero_gpu: bool = False,
) -> Iterator[tuple[str, object]]:
    """Serve ``app.build_demo`` (bundled models) with the Train tab on a free port; yields (url, session models).

    The shortest budget is lowered from the app's 15 s to ``min_seconds`` so tests train for seconds, and
    training keeps the server's priority: here the CPU is shared with other processes, which a niced
    trainer would yield to (the app's niceness is for its own request handlers)."""
    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp / "gradio"))
    import torch

    threads = torch.get_num_threads()
    from chargen.app import demo as app
    from chargen.app import train_views
    from chargen.app.session.store import SessionStore

    models, notices = app.load_app_models()
    session_models = train_views.SessionModels(SessionStore(root=tmp / "sessions"))
    settings = train_views.TrainTabSettings(
        max_seconds=max_seconds,
        min_seconds=min_seconds,
        default_seconds=30,
        hub_endpoint=hub_endpoint,
        zero_gpu=zero_gpu,
        niceness=0,
    )
    demo = app.build_demo(models, notices, session_models=session_models, train_settings=settings)
    url = launch_in_process(demo, **app.launch_options())
    try:
        yield url, session_models
    finally:
        demo.close()
        session_models.store.close()
        torch.set_num_threads(threads)
