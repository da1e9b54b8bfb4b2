"""Shared test hygiene: the root logger is restored after each test.

`edgeguard serve` (webhook.cli.main) installs its JSON handler and level on the root logger, as
a program should; tests that call it must not change what later tests' caplog sees.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
