"""The staff web dashboard (FastAPI, server-rendered pages): ``create_app`` in ``.app``."""


def __getattr__(name):  # lazy: `frontdesk users ...` needs no web stack
    if name == "create_app":
        from .app import create_app
        return create_app
    raise AttributeError(name)


__all__ = ["create_app"]
