"""JSON logging: uvicorn's loggers go through it, and an access log uvicorn
was told to leave off stays off."""

import json
import logging
from collections.abc import Iterator

import pytest

from servicekit.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    names = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate) for n in names}
    level = logging.getLogger().level
    yield
    for n, (handlers, propagate) in saved.items():
        logging.getLogger(n).handlers[:] = handlers
        logging.getLogger(n).propagate = propagate
    logging.getLogger().setLevel(level)


def _uvicorn_configured(access_log: bool) -> None:
    """What uvicorn's own logging set-up leaves before the app starts."""
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = [logging.StreamHandler()] if access_log else []
    access.propagate = False


def test_no_access_log_stays_off(capsys: pytest.CaptureFixture[str]) -> None:
    _uvicorn_configured(access_log=False)
    configure_logging("svc")
    logging.getLogger("uvicorn.access").info("GET / 200")
    logging.getLogger("uvicorn.error").warning("bind failed")
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["logger"], x["msg"], x["service"]) for x in lines] == [
        ("uvicorn.error", "bind failed", "svc")
    ]


def test_an_access_log_left_on_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    _uvicorn_configured(access_log=True)
    configure_logging("svc")
    logging.getLogger("uvicorn.access").info("GET / 200")
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (line["logger"], line["msg"]) == ("uvicorn.access", "GET / 200")
