"""tools/setup_env.sh on a machine without ComfyUI: it installs the pinned host from COMFYUI_ARCHIVE, and every
failure ends with one line naming the cause and the fix (never a silent exit)."""
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tools.find_comfyui import REPO

SETUP = REPO / "tools" / "setup_env.sh"


def run_setup(tmp_path: Path, **env) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), "SEMANTICDRAW_NO_BROWSER": "1",
            "SEMANTICDRAW_VENV": str(tmp_path / "venv"), "PYTHON": sys.executable}
    return subprocess.run(["bash", str(SETUP)], env={**base, **env}, capture_output=True, text=True, timeout=300)


def fake_comfyui(root: Path) -> Path:
    (root / "ComfyUI").mkdir(parents=True)
    (root / "ComfyUI" / "main.py").write_text("")
    (root / "ComfyUI" / "requirements.txt").write_text("")
    return root / "ComfyUI"


def test_host_is_installed_from_the_archive_when_none_is_found(tmp_path):
    archive = tmp_path / "ComfyUI.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(fake_comfyui(tmp_path / "src"), arcname="ComfyUI")
    # stop right after the host install: the venv step fails fast on a python that has no venv module
    fake_py = tmp_path / "python-without-venv"
    fake_py.write_text(f'#!/bin/sh\n[ "$1 $2" = "-m venv" ] && exit 1\nexec {sys.executable} "$@"\n')
    fake_py.chmod(0o755)
    done = run_setup(tmp_path, COMFYUI_ARCHIVE=str(archive), PYTHON=str(fake_py))
    host = tmp_path / "home" / ".cache" / "semanticdraw" / "ComfyUI-v0.3.64"
    assert (host / "main.py").is_file()
    assert f"installing ComfyUI v0.3.64 from {archive}" in done.stderr and "COMFYUI_PATH" in done.stderr
    assert done.returncode == 1 and "apt-get install python3-venv" in done.stderr.splitlines()[-1]


def test_clone_failure_names_the_cause_and_the_fix(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text("#!/bin/sh\necho 'fatal: unable to access' >&2\nexit 128\n")
    (bin_dir / "git").chmod(0o755)
    done = run_setup(tmp_path, PATH=f"{bin_dir}:{os.environ['PATH']}")
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1 and "git clone of ComfyUI v0.3.64 failed" in last and "COMFYUI_ARCHIVE" in last


@pytest.mark.parametrize("env, message", [
    ({"COMFYUI_PATH": "/nonexistent/ComfyUI"}, "COMFYUI_PATH=/nonexistent/ComfyUI has no main.py"),
    ({"COMFYUI_ARCHIVE": "/nonexistent.tar.gz"}, "COMFYUI_ARCHIVE=/nonexistent.tar.gz is not a file"),
    ({"PYTHON": "/nonexistent/python3"}, "no '/nonexistent/python3' on PATH"),
])
def test_bad_settings_name_the_setting(tmp_path, env, message):
    done = run_setup(tmp_path, **env)
    assert done.returncode == 1 and message in done.stderr.strip().splitlines()[-1]


def test_pip_failure_names_the_cause(tmp_path):
    done = run_setup(tmp_path, COMFYUI_PATH=str(fake_comfyui(tmp_path)), PIP_NO_INDEX="1", PIP_FIND_LINKS="")
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1 and last.startswith("semanticdraw set-up failed: pip") and "failed" in last
