"""Host fixtures: the host imported in-process with tiny models built directly (the real server, `comfy_server`,
is in tests/conftest.py, shared with the browser tests)."""
import pytest

from tools import inprocess, tiny_models


def tiny_model_map(name: str, value: str) -> str:
    return tiny_models.LORA if name == "lora_name" else tiny_models.checkpoint_for(value)


@pytest.fixture(scope="session")
def pack():
    try:
        return inprocess.load_host()
    except inprocess.HostNotFound as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def sd15(pack):
    return inprocess.tiny_model("sd15")
