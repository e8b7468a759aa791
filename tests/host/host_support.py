"""Shared by the host tests: the in-process host, or a visible skip when there is none."""
import pytest

from tools import inprocess


def load_host():
    try:
        return inprocess.load_host()
    except inprocess.HostNotFound as e:
        pytest.skip(str(e))
