"""Interrupt (issue 12, section 3): every sampler of the pack stops within one model call and a rerun is
byte-identical. In-process, with ComfyUI's server progress hook installed; no sleeps: a second thread sends
the interrupt (as the /interrupt route does) while a given model call is in flight, synchronised by events."""
import threading

import pytest
import torch

from tools.inprocess import cond
from test_inprocess_edit_stream import EDIT, STREAM, moving_stack
from test_inprocess_nodes import SETTINGS, sample, stack

WAIT = 120  # s; an event not set by then is a failure, never a timing assumption


class InterruptAt:
    """Wraps a BaseModel's apply_model. When call `at` starts, another thread interrupts processing; the call
    returns only once the interrupt is pending. Counts the model calls that start after the interrupt."""

    def __init__(self, model, at: int):
        import comfy.model_management
        self.mm, self.model, self.inner, self.at = comfy.model_management, model, model.apply_model, at
        self.calls, self.after = 0, 0
        self.reached, self.sent = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._interrupt, daemon=True)

    def _interrupt(self):
        if self.reached.wait(WAIT) and self.calls:
            self.mm.interrupt_current_processing(True)
        self.sent.set()

    def __call__(self, x, t, **kwargs):
        if self.sent.is_set():
            self.after += 1
        self.calls += 1
        if self.calls == self.at:
            self.reached.set()
            assert self.sent.wait(WAIT), "the interrupting thread did not answer"
        return self.inner(x, t, **kwargs)

    def __enter__(self):
        self.model.apply_model = self
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.model.apply_model = self.inner
        self.reached.set()
        self.thread.join(WAIT)
        self.mm.interrupt_current_processing(False)


@pytest.fixture
def server_hook(pack):
    """The progress hook main.py installs: every progress update raises a pending interrupt."""
    import comfy.model_management
    import comfy.utils

    def hook(value, total, preview_image, prompt_id=None, node_id=None):
        comfy.model_management.throw_exception_if_processing_interrupted()
    before = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(hook)
    yield
    comfy.utils.set_progress_bar_global_hook(before)
    comfy.model_management.interrupt_current_processing(False)


def run_sampler(pack, model, **kw):
    return sample(pack, model, stack(pack), {"samples": torch.zeros(1, 4, 32, 32)}, steps=2, **kw)["samples"]


def run_guider(pack, model):
    import comfy.samplers
    from comfy_extras.nodes_custom_sampler import Noise_RandomNoise, SamplerCustomAdvanced
    from semanticdraw.nodes.sampling import SemanticDrawGuiderNode
    guider = SemanticDrawGuiderNode.execute(model, stack(pack), 1.0, **SETTINGS).result[0]
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "sgm_uniform", 2).cpu()
    out, _ = SamplerCustomAdvanced().sample(Noise_RandomNoise(42), guider, comfy.samplers.sampler_object("lcm"),
                                            sigmas, {"samples": torch.zeros(1, 4, 32, 32)})
    return out["samples"]


def run_sdedit(pack, model):
    from semanticdraw.nodes.edit import SemanticDrawSDEdit
    guide = {"samples": torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(1))}
    return SemanticDrawSDEdit.execute(model, stack(pack), guide, **(EDIT | dict(strength=0.9, repeats=1, steps=2))
                                      ).result[0]["samples"]


def run_regional_edit(pack, model):
    from semanticdraw.nodes.edit import SemanticDrawRegionalEdit
    from semanticdraw.nodes.host.regions import Region
    src = stack(pack)
    tgt = src.replace(regions=(src.regions[0], Region(cond(99), None, src.regions[1].mask, label="new")))
    source = {"samples": torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(2))}
    out = SemanticDrawRegionalEdit.execute(model, source, src, tgt, **(EDIT | dict(strength=0.9, steps=2)))
    return out.result[0]["samples"]


def run_stream(pack, model):
    from semanticdraw.nodes.stream import SemanticDrawStreamSampler
    return SemanticDrawStreamSampler.execute(model, moving_stack(pack, 2), {"samples": torch.zeros(1, 4, 32, 32)},
                                             frame_count=2, **STREAM).result[0]["samples"]


RUNS = {"sampler": run_sampler, "sampler-heun": lambda pack, m: run_sampler(pack, m, sampler_name="heun"),
        "guider": run_guider, "sdedit": run_sdedit, "regional_edit": run_regional_edit, "stream": run_stream}


@pytest.mark.parametrize("name", list(RUNS))
def test_interrupt_stops_within_one_model_call_and_rerun_is_identical(pack, sd15, server_hook, name):
    import comfy.model_management
    run = RUNS[name]
    reference = run(pack, sd15)
    with InterruptAt(sd15.model, at=2) as probe:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            run(pack, sd15)
    assert probe.calls >= 2 and probe.after <= 1, (probe.calls, probe.after)
    if name == "sampler-heun":  # two model calls in the first step: the second must not start after the interrupt
        assert probe.after == 0, probe.after
    assert torch.equal(run(pack, sd15), reference)
