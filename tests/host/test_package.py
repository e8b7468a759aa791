"""The registry package: pyproject.toml per the Comfy Registry's specification, `comfy node validate` (comfy-cli from
PyPI) passes, and `comfy node pack` ships only the runtime files."""
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tools.find_comfyui import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
RUNTIME = {"__init__.py", "nodes", "engine", "web", "workflows", "README.md", "LICENSE", "pyproject.toml",
           "requirements.txt"}
MAX_ARCHIVE = 400 * 1024  # bytes; measured 0.20 MB (1.0 MB without .comfyignore)


def comfy_cli() -> str:
    path = shutil.which("comfy", path=str(Path(sys.executable).parent)) or shutil.which("comfy")
    if path is None:
        pytest.skip("comfy-cli is not installed (tools/setup_env.sh installs it)")
    return path


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """The working tree as a fresh git repository (comfy-cli packs git-tracked files): tracked and new files,
    without what .gitignore excludes."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                           capture_output=True).stdout.decode().split("\0")
    root = tmp_path_factory.mktemp("checkout")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    return root


def run_comfy(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HOME=str(cwd.parent / "home"), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run([comfy_cli(), "--skip-prompt", "--no-enable-telemetry", "node", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_pyproject_follows_the_registry_specification():
    project, comfy = PYPROJECT["project"], PYPROJECT["tool"]["comfy"]
    name = project["name"]
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*([-_.][A-Za-z0-9]+)*", name) and len(name) < 100, name
    assert "comfyui" not in name.lower(), "the registry's naming guidance: no 'ComfyUI' in the node id"
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert any(c.startswith("Operating System ::") for c in project["classifiers"])
    assert any(c.startswith("Environment :: GPU ::") for c in project["classifiers"])
    assert {"Repository", "Documentation", "Issues"} <= set(project["urls"]), "comfy-cli reads Issues"
    icon = comfy["Icon"]
    local = REPO / icon.split("/main/", 1)[1]
    with Image.open(local) as im:
        assert im.width == im.height <= 400, im.size  # the registry's icon limit: square, at most 400x400
    assert local.stat().st_size <= 50 * 1024


def test_comfy_node_validate_passes(checkout):
    result = run_comfy(["validate"], checkout)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "All validation checks passed" in out and "Warning" not in out and "Security warnings" not in out, out


def test_comfy_node_pack_ships_only_runtime_files(checkout):
    result = run_comfy(["pack"], checkout)
    assert result.returncode == 0, result.stdout + result.stderr
    archive = checkout / "node.zip"
    names = zipfile.ZipFile(archive).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops <= RUNTIME, f"not runtime files: {sorted(tops - RUNTIME)}"
    for needed in ("__init__.py", "nodes/__init__.py", "engine/__init__.py", "web/reports.js", "pyproject.toml",
                   "workflows/sd15_lcm_three_regions.json", "workflows/assets/palette_map.png"):
        assert needed in names, f"{needed} missing from the package"
    assert archive.stat().st_size <= MAX_ARCHIVE, archive.stat().st_size
