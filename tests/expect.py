"""What a test expects of a refusal: the error's type and its stable code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from greenlight.core.errors import GreenlightError


@contextmanager
def refused(code: str, error: type[GreenlightError] = GreenlightError) -> Iterator[None]:
    """The block must raise ``error`` carrying ``code``, with a sentence for the user."""
    with pytest.raises(error) as caught:
        yield
    assert caught.value.code == code
    assert caught.value.message


@contextmanager
def refused_as(code: str) -> Iterator[pytest.ExceptionInfo[GreenlightError]]:
    """As :func:`refused`, handing the caught error over so a test can read its details."""
    with pytest.raises(GreenlightError) as caught:
        yield caught
    assert caught.value.code == code, caught.value.message
    assert caught.value.message
