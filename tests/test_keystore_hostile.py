"""The key store and the key under attack: broken, foreign and shared files, bad key bytes.

Every case runs the real `talkline` (or 16 real processes at once) against a real
`TALKLINE_HOME` and the scripted server on 127.0.0.1, and checks: no traceback, the exit
code, the wording of the message (it names the fix), the key in no output, and that
nothing stored was lost.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from talkline.testing import ScriptedServer

from .clihelp import SRC, Result

CANARY = "sk-test-CANARY-keystore-5d1f0b7a93"
SETPRIV = shutil.which("setpriv")


def tl(*args: str, home: Path, env: dict[str, str] | None = None, input: str = "",
       umask: int | None = None, unprivileged: bool = False, timeout: float = 60) -> Result:
    """The real `talkline` in a child process, with `umask` set; `unprivileged`: as root,
    without the capabilities that let root write anywhere (so a 0500 folder is read-only
    for it too)."""
    full = dict(os.environ)
    full["PYTHONPATH"] = SRC
    full["TALKLINE_HOME"] = str(home)
    full.pop("COLUMNS", None)
    full.update(env or {})

    def before() -> None:
        if umask is not None:
            os.umask(umask)

    command = [sys.executable, "-m", "talkline", *args]
    if unprivileged and os.geteuid() == 0:
        drop = "-dac_override,-dac_read_search,-fowner"
        command = [str(SETPRIV), f"--inh-caps={drop}", f"--bounding-set={drop}", "--",
                   *command]
    proc = subprocess.run(command, input=input,
                          capture_output=True, text=True, env=full, timeout=timeout,
                          preexec_fn=before)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def clean(r: Result, *secrets: str) -> None:
    assert "Traceback" not in r.err, r.err
    for secret in secrets:
        assert secret not in r.out and secret not in r.err


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_keys(home: Path, raw: bytes, file_mode: int = 0o600) -> Path:
    path = home / "keys.json"
    path.write_bytes(raw)
    path.chmod(file_mode)
    return path


def remote(server: ScriptedServer) -> dict[str, str]:
    return {"OPENAI_BASE_URL": server.url}


# ---- the key file's contents ----

def test_a_key_file_that_is_not_utf8_is_named_with_what_to_do(server, talkline_home):
    raw = b'{"openai": "sk-test-\xff\xfe-latin"}'
    path = write_keys(talkline_home, raw)
    for args in (("keys", "list"), ("hi",), ("keys", "set", "other", "--value", CANARY)):
        r = tl(*args, home=talkline_home, env=remote(server))
        clean(r, CANARY)
        assert r.code == 2, (args, r.err)
        assert f"The key file {path} is not UTF-8 text" in r.err
        assert "Fix it in an editor, or delete it and run: talkline keys set openai" in r.err
    assert path.read_bytes() == raw  # nothing lost, nothing half-written
    assert server.chat_requests == []


@pytest.mark.parametrize(("value", "shown"), [
    ("null", "null"), ("5", "int"), ("[1, 2]", "list"), ('{"k": "v"}', "dict"),
    ("true", "bool"),
])
def test_a_key_that_is_not_a_string_is_refused_not_read_as_none(server, talkline_home,
                                                                 value, shown):
    path = write_keys(talkline_home, f'{{"openai": {value}, "spare": "{CANARY}"}}'.encode())
    r = tl("hi", home=talkline_home, env=remote(server))
    clean(r, CANARY)
    assert r.code == 2
    assert f"The key 'openai' in {path} is {shown}, not a string." in r.err
    assert "Set it again with: talkline keys set openai" in r.err
    assert server.chat_requests == []  # not sent as "Bearer None"
    # The fix works, and the other key is kept.
    r = tl("keys", "set", "openai", input=CANARY + "\n", home=talkline_home)
    assert r.code == 0, r.err
    assert json.loads(path.read_text()) == {"openai": CANARY, "spare": CANARY}


def test_a_key_file_holding_no_object_says_what_to_do(talkline_home):
    write_keys(talkline_home, b'["sk-test-a-list"]')
    r = tl("keys", "list", home=talkline_home)
    clean(r, "sk-test-a-list")
    assert r.code == 2 and "must hold a JSON object" in r.err
    assert "Fix or delete it, then run: talkline keys set openai" in r.err


def test_a_key_file_readable_by_others_is_fixed_with_a_warning(server, talkline_home):
    path = write_keys(talkline_home, json.dumps({"openai": CANARY}).encode(), 0o644)
    r = tl("hi", home=talkline_home, env=remote(server))
    clean(r, CANARY)
    assert r.code == 0, r.err
    assert (f"Warning: the key file {path} was readable by others (mode 0644); talkline "
            "changed it to 0600 (owner only).") in r.err
    assert mode(path) == 0o600
    assert server.chat_requests[-1].headers["authorization"] == f"Bearer {CANARY}"
    r = tl("keys", "list", home=talkline_home)
    assert r.code == 0 and "Warning" not in r.err  # warned once: the mode stays fixed


# ---- folders ----

def test_an_existing_talkline_home_keeps_its_mode(server, talkline_home):
    talkline_home.chmod(0o755)
    r = tl("keys", "set", "openai", "--value", CANARY, home=talkline_home)
    assert r.code == 0, r.err
    r = tl("hi", home=talkline_home, env=remote(server))
    assert r.code == 0, r.err
    assert mode(talkline_home) == 0o755
    assert mode(talkline_home / "keys.json") == 0o600


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_folders_talkline_creates_are_0700(tmp_path, umask):
    home = tmp_path / "new" / "home"
    r = tl("keys", "set", "openai", "--value", CANARY, home=home, umask=umask)
    assert r.code == 0, r.err
    assert mode(home) == 0o700 and mode(home.parent) == 0o700
    assert mode(home / "keys.json") == 0o600
    assert mode(home / "keys.json.lock") == 0o600


@pytest.mark.skipif(os.geteuid() == 0 and SETPRIV is None,
                    reason="as root a read-only folder needs setpriv to drop root's powers")
def test_a_read_only_folder_is_a_clear_error_and_nothing_is_lost(talkline_home):
    home = talkline_home
    first = tl("keys", "set", "openai", "--value", CANARY, home=home)
    assert first.code == 0, first.err
    before = (home / "keys.json").read_bytes()
    home.chmod(0o500)
    for args in (("keys", "set", "other", "--value", "sk-test-other-1234567"),
                 ("keys", "rm", "openai")):
        r = tl(*args, home=home, unprivileged=True)
        clean(r, CANARY, "sk-test-other-1234567")
        assert r.code == 2, r.err
        assert f"Cannot write the key file in {home}" in r.err
        assert "nothing was changed" in r.err
        assert f"Make the folder writable (chmod u+w {home})" in r.err
    assert (home / "keys.json").read_bytes() == before
    r = tl("keys", "list", home=home, unprivileged=True)  # reading still works
    assert r.code == 0 and r.out.split() == ["openai"]
    home.chmod(0o700)


# ---- 16 writers at once ----

_SETTER = """
import sys, time
from talkline.settings import KeyStore, Paths
start = float(sys.argv[2])
while time.time() < start:
    pass
KeyStore(Paths.resolve()).set(sys.argv[1], "sk-test-concurrent-" + sys.argv[1] + "-0123456789")
"""


def test_sixteen_keys_set_at_once_keep_all_sixteen(talkline_home):
    env = dict(os.environ, PYTHONPATH=SRC, TALKLINE_HOME=str(talkline_home))
    start = time.time() + 3.0  # every child imported and spinning before the first write
    procs = [subprocess.Popen([sys.executable, "-c", _SETTER, f"k{i}", str(start)], env=env,
                              stderr=subprocess.PIPE, text=True) for i in range(16)]
    errs = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 16, errs
    data = json.loads((talkline_home / "keys.json").read_text())
    assert data == {f"k{i}": f"sk-test-concurrent-k{i}-0123456789" for i in range(16)}
    assert sorted(p.name for p in talkline_home.iterdir()) == ["keys.json", "keys.json.lock"]
    r = tl("keys", "list", home=talkline_home)
    assert sorted(r.out.split()) == sorted(f"k{i}" for i in range(16))


# ---- the key's own bytes ----

PADDED = [f"  {CANARY}\n", f"{CANARY}\r\n", f"\t{CANARY} \n\n"]


@pytest.mark.parametrize("padded", PADDED)
@pytest.mark.parametrize("where", ["env", "flag", "store", "keys-set"])
def test_surrounding_whitespace_is_stripped_wherever_the_key_is_read(server, talkline_home,
                                                                    padded, where):
    env = remote(server)
    args: tuple[str, ...] = ("hi",)
    if where == "env":
        env["OPENAI_API_KEY"] = padded
    elif where == "flag":
        args = ("--key", padded, "hi")
    elif where == "store":
        write_keys(talkline_home, json.dumps({"openai": padded}).encode())
    else:
        r = tl("keys", "set", "openai", input=padded, home=talkline_home)
        assert r.code == 0, r.err
        assert json.loads((talkline_home / "keys.json").read_text()) == {"openai": CANARY}
    r = tl(*args, home=talkline_home, env=env)
    clean(r, CANARY)
    assert r.code == 0, r.err
    assert server.chat_requests[-1].headers["authorization"] == f"Bearer {CANARY}"


BAD = [
    pytest.param("sk-test-CANARY-ctrl\x01code-9b1c", "a control character", id="ctrl-01"),
    pytest.param("sk-test-CANARY-in\r\nside-4a2e", "a control character", id="inner-crlf"),
    pytest.param("sk-test-CANARY-tab\there-77aa", "a control character", id="inner-tab"),
    pytest.param("sk-test-CANARY-del\x7f-6c3d", "a control character", id="del"),
    pytest.param("sk-test-CANARY-caf\u00e9-8e4f", "a character that is not ASCII",
                 id="non-ascii"),
    pytest.param("sk-test-CANARY-zero\u200bwidth-1f2a", "a control character",
                 id="zero-width"),
    pytest.param("odd-shaped-CANARY-\u00fcber-secret", "a character that is not ASCII",
                 id="not-sk"),
]
_FIXES = {
    "env": ("The API key from OPENAI_API_KEY holds",
            "Set OPENAI_API_KEY again without extra characters"),
    "flag": ("The API key from --key holds", "Pass the key again with --key"),
    "store": ("The API key from the key file", "Set it again with: talkline keys set openai"),
}


def _secret_parts(key: str) -> list[str]:
    """The key and each run of it between bad characters that is long enough to matter."""
    parts = [key] + [p for p in "".join(c if c.isascii() and c.isprintable() else " "
                                        for c in key).split() if len(p) >= 6]
    return [p for p in parts if p not in ("sk-test-CANARY",)]


@pytest.mark.parametrize(("key", "what"), BAD)
@pytest.mark.parametrize("where", ["env", "flag", "store"])
def test_a_key_with_bad_characters_is_refused_once_without_showing_it(
        server, talkline_home, key, what, where):
    env = remote(server)
    args: tuple[str, ...] = ("--retries", "0", "hi")
    if where == "env":
        env["OPENAI_API_KEY"] = key
    elif where == "flag":
        args = ("--key", key, *args)
    else:
        write_keys(talkline_home, json.dumps({"openai": key}).encode())
    r = tl(*args, home=talkline_home, env=env)
    clean(r, *_secret_parts(key))
    assert r.code == 2, r.err
    start, fix = _FIXES[where]
    assert start in r.err and what in r.err
    assert "it was not used and is not shown." in r.err
    assert fix in r.err
    assert "Illegal header value" not in r.err
    assert server.chat_requests == []


@pytest.mark.parametrize(("key", "what"), BAD)
def test_keys_set_refuses_a_key_with_bad_characters_and_keeps_the_old_one(talkline_home,
                                                                           key, what):
    path = write_keys(talkline_home, json.dumps({"openai": CANARY}).encode())
    r = tl("keys", "set", "openai", input=key + "\n", home=talkline_home)
    clean(r, *_secret_parts(key), CANARY)
    assert r.code == 2
    assert f"The API key from the input holds {what}" in r.err
    assert "Enter the key again: talkline keys set openai; nothing was stored." in r.err
    assert json.loads(path.read_text()) == {"openai": CANARY}


def test_the_library_refuses_a_bad_key_too(server):
    from talkline.errors import ConfigError
    from talkline.wire.connection import Connection

    with pytest.raises(ConfigError) as info:
        Connection(server.url, "sk-test-CANARY-lib\x00rary-1234")
    assert "sk-test-CANARY-lib" not in str(info.value)
    assert "Pass the key without extra characters." in str(info.value)
    conn = Connection(server.url, f" {CANARY}\n")
    try:
        assert conn.headers["Authorization"] == f"Bearer {CANARY}"
    finally:
        conn.close()


