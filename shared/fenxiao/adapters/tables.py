"""Binds the table models to the table names of the environment: each table module hands its models over
when it is imported (``bind``, its last statement, after every subclass), and ``bind_tables`` (once per
container, from bootstrap) points them at the names in the settings. A container binds only the tables of
the modules it imports (the first payment notification: four of nine), not every table model at its cold
start."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from pynamodb.models import Model

if TYPE_CHECKING:
    from fenxiao.config import Settings

_lock = threading.Lock()
_fields: dict[type[Model], str] = {}  # every table model imported -> the settings field naming its table
_settings: list[Settings] = []  # the container's, once bind_tables has run


def bind(model: type[Model], field: str) -> None:
    """``model`` and its subclasses (defined before the call) are stored in the table ``settings.<field>``
    names; bound at once if the container's settings are known."""
    with _lock:
        _fields[model] = field
        if _settings:
            _bind(model, field, _settings[0])


def bind_tables(settings: Settings) -> None:
    """Point every table model imported so far, and every one imported later, at the tables named in
    ``settings`` (called once per container by bootstrap)."""
    from fenxiao.adapters.aws import share_loader_with_pynamodb

    share_loader_with_pynamodb()
    with _lock:
        _settings[:] = [settings]
        for model, field in _fields.items():
            _bind(model, field, settings)


def _bind(model: type[Model], field: str, settings: Settings) -> None:
    table_name = getattr(settings, field)
    for cls in [model, *_subclasses(model)]:
        cls.Meta.table_name = table_name
        cls.Meta.region = settings.region
        cls._connection = None


def _subclasses(model: type[Model]) -> list[type[Model]]:
    out: list[type[Model]] = []
    for sub in model.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out
