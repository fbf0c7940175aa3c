"""Every evaluation test runs with the session's temporary RXT5_HOME: evaluate's module cache lives there, never in
the developer's ./.rxt5."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _evaluation_home(rxt5_test_home):
    return rxt5_test_home
