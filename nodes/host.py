"""Adapters between ComfyUI's model objects and the engine's denoiser protocol.

`HostDenoiser` evaluates a batch whose every sample has its own latent, sigma and region
conditioning in one model call, mirroring core's `comfy.samplers._calc_cond_batch` (control
nets, patches, hooks, `model_function_wrapper`, cfg functions all keep working).
"""
from __future__ import annotations

import math
from collections import defaultdict

import torch

import comfy.model_management
import comfy.model_sampling
import comfy.patcher_extension
import comfy.samplers
import comfy.utils

from ..engine import NoiseSpace, eps_space, flow_space

REGION_KEY = "semanticdraw_region"


def noise_space(model_sampling) -> NoiseSpace:
    """Noise level and noising of the model's own parameterisation (flow for CONST, else eps/v)."""
    base = flow_space() if isinstance(model_sampling, comfy.model_sampling.CONST) else eps_space()
    return NoiseSpace(level=base.level,
                      add_noise=lambda x0, n, s: model_sampling.noise_scaling(s.to(x0), n, x0))


def step_index(sigmas: torch.Tensor, sigma: torch.Tensor) -> int:
    """Schedule step `k` with `sigmas[k] >= sigma > sigmas[k+1]` (intermediate sigmas of 2nd-order samplers map to k)."""
    s = float(sigma.reshape(-1)[0])
    k = int((sigmas[:-1].float().cpu() >= s * (1 - 1e-4) - 1e-7).sum()) - 1
    return min(max(k, 0), len(sigmas) - 2)


def group_by_region(conds: list[dict] | None, count: int) -> list[list[dict]]:
    """Processed cond dicts grouped by the region index our guider tagged them with."""
    groups: list[list[dict]] = [[] for _ in range(count)]
    for c in conds or []:
        groups[c[REGION_KEY]].append(c)
    return groups


class HostDenoiser:
    """Engine `Denoiser` over a ComfyUI BaseModel: `(x [B], sigma [B], region [B]) -> x0 [B]`, CFG included."""

    def __init__(self, model, positive: list[list[dict]], negative: list[list[dict]], cfg: float, model_options: dict):
        self.model, self.positive, self.negative = model, positive, negative
        self.cfg, self.model_options = cfg, model_options
        self.use_uncond = not math.isclose(cfg, 1.0) or model_options.get("disable_cfg1_optimization", False)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
        sigma = sigma.to(x)
        jobs = []  # (cond_obj, sample index, 0 = cond / 1 = uncond, weight, sigma [1])
        for j, r in enumerate(region.tolist()):
            kinds = [(0, self.positive[r])] + ([(1, self.negative[r])] if self.use_uncond else [])
            for kind, entries in kinds:
                for entry in entries:
                    obj = comfy.samplers.get_area_and_mult(entry, x[j:j + 1], sigma[j:j + 1])
                    if obj is not None:
                        jobs.append((obj, j, kind, float(entry.get("strength", 1.0)), sigma[j:j + 1]))
        out = torch.zeros((2,) + x.shape, dtype=x.dtype, device=x.device)
        weight = torch.zeros((2, x.shape[0], 1, 1, 1), dtype=x.dtype, device=x.device)
        self.model.current_patcher.prepare_state(sigma)
        for group in self._groups(jobs):
            for chunk in self._fit_memory(group, x.device):
                for o, (_, j, kind, w, _) in zip(self._run(chunk), chunk):  # o: [1, C, h, w]
                    out[kind, j] += w * o[0]
                    weight[kind, j] += w
        # a sample whose conds are all outside their timestep range falls back to its other branch
        out = out / weight.clamp_min(1e-8)
        cond, uncond = out[0], out[1] if self.use_uncond else None
        if self.use_uncond:
            cond = torch.where(weight[0] > 0, cond, uncond)
            uncond = torch.where(weight[1] > 0, uncond, cond)
        return self._cfg(x, sigma, cond, uncond)

    @staticmethod
    def _groups(jobs):
        """Jobs that can share one model call (same hooks, control, patches and shapes), as core groups them."""
        by_hooks = defaultdict(list)
        for job in jobs:
            by_hooks[job[0].hooks].append(job)
        for hooked in by_hooks.values():
            while hooked:
                first = hooked[0][0]
                group = [job for job in hooked if comfy.samplers.can_concat_cond(job[0], first)]
                hooked = [job for job in hooked if not comfy.samplers.can_concat_cond(job[0], first)]
                yield group

    def _fit_memory(self, group, device):
        """Split a group into chunks that fit free memory (normally one chunk: one model call)."""
        free = comfy.model_management.get_free_memory(device)
        shape = list(group[0][0].input_x.shape)
        n = len(group)
        while n > 1:
            cond_shapes = defaultdict(list)
            for job in group[:n]:
                for k, v in job[0].conditioning.items():
                    cond_shapes[k].append(v.size())
            if self.model.memory_required([n * shape[0]] + shape[1:], cond_shapes=cond_shapes) * 1.5 < free:
                break
            n = (n + 1) // 2
        return [group[i:i + n] for i in range(0, len(group), n)]

    def _run(self, group) -> list[torch.Tensor]:
        model, opts = self.model, self.model_options
        objs = [job[0] for job in group]
        hooks = objs[0].hooks
        input_x = torch.cat([o.input_x for o in objs])
        sig = torch.cat([job[4] for job in group])
        c = comfy.samplers.cond_cat([o.conditioning for o in objs])
        if hooks is not None:
            model.current_patcher.prepare_hook_patches_current_keyframe(sig, hooks, opts)
        topts = model.current_patcher.apply_hooks(hooks=hooks)
        if "transformer_options" in opts:
            topts = comfy.patcher_extension.merge_nested_dicts(topts, opts["transformer_options"], copy_dict1=False)
        patches = objs[0].patches
        if patches is not None:
            merged = dict(topts.get("patches", {}))
            for name, plist in patches.items():
                merged[name] = merged.get(name, []) + plist
            topts["patches"] = merged
        cond_or_uncond = [job[2] for job in group]
        topts["cond_or_uncond"] = cond_or_uncond
        topts["uuids"] = [o.uuid for o in objs]
        topts["sigmas"] = sig
        c["transformer_options"] = topts
        if objs[0].control is not None:
            c["control"] = objs[0].control.get_control(input_x, sig, c, len(cond_or_uncond), topts)
        if "model_function_wrapper" in opts:
            output = opts["model_function_wrapper"](model.apply_model, {"input": input_x, "timestep": sig, "c": c,
                                                                        "cond_or_uncond": cond_or_uncond})
        else:
            output = model.apply_model(input_x, sig, **c)
        return list(output.chunk(len(group)))

    def _cfg(self, x, sigma, cond, uncond):
        if uncond is None:
            return cond
        opts, model = self.model_options, self.model
        out = [cond, uncond]
        for fn in opts.get("sampler_pre_cfg_function", []):
            out = fn({"conds": [None, None], "conds_out": out, "cond_scale": self.cfg, "timestep": sigma,
                      "input": x, "sigma": sigma, "model": model, "model_options": opts})
        return comfy.samplers.cfg_function(model, out[0], out[1], self.cfg, x, sigma, model_options=opts)
