"""The real embedded model for tests marked `local`: where `talkline local install` put it.

Missing model or xllamacpp: the module is skipped on a developer's machine, but fails under
CI (where `.ci/run` installs both before pytest), so those tests never skip silently there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def require_model() -> Path:
    from talkline.backends.local.files import find_default_model

    why = None
    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        why = "the [local] extra (xllamacpp) is not installed"
    path = find_default_model()
    if why is None and path is None:
        why = "the embedded model is not installed: run `talkline local install`"
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the embedded model: {why}", pytrace=False)
        pytest.skip(why, allow_module_level=True)
    assert path is not None
    return path
