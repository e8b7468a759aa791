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

from ...engine import NoiseSpace, eps_space, flow_space
from ...engine.regional import roll2d

REGION_KEY = "semanticdraw_region"


def noise_space(model_sampling) -> NoiseSpace:
    """Noise level and noising of the model's own parameterisation (flow for CONST, else eps/v)."""
    base = flow_space() if isinstance(model_sampling, comfy.model_sampling.CONST) else eps_space()
    return NoiseSpace(level=base.level, input_scale=base.input_scale,
                      add_noise=lambda x0, n, s: model_sampling.noise_scaling(s.to(x0), n, x0))


def step_index(sigmas: torch.Tensor, sigma: torch.Tensor) -> int:
    """Schedule step `k` with `sigmas[k] >= sigma > sigmas[k+1]`: a 2nd-order sampler's intermediate sigma maps to
    its step, its evaluation at `sigmas[k+1]` (heun's corrector) to step `k+1`."""
    s = float(sigma.reshape(-1)[0])
    k = int((sigmas[:-1].float().cpu() >= s * (1 - 1e-4) - 1e-7).sum()) - 1
    return min(max(k, 0), len(sigmas) - 2)


def group_by_region(conds: list[dict] | None, count: int) -> list[list[dict]]:
    """Processed cond dicts grouped by the region index our guider tagged them with."""
    groups: list[list[dict]] = [[] for _ in range(count)]
    for c in conds or []:
        groups[c[REGION_KEY]].append(c)
    return groups


POSITIONAL = ("area", "mask", "control", "gligen")  # conditioning that says where on the canvas it acts


def positional_keys(conds: list[dict]) -> list[str]:
    """The positional features (area, mask, ControlNet/T2I, GLIGEN) that processed cond dicts carry."""
    return sorted({k for c in conds for k in POSITIONAL if c.get(k) is not None})


def _narrow(t: torch.Tensor, area) -> torch.Tensor:
    """View of `[1, C, *dims]` restricted to a core `area` (sizes then offsets), as `_calc_cond_batch` does."""
    if area is None:
        return t
    dims = len(area) // 2
    for i in range(dims):
        t = t.narrow(i + 2, area[i + dims], area[i])
    return t


class HostDenoiser:
    """Engine `Denoiser` over a ComfyUI BaseModel: `(x [B], sigma [B], region [B]) -> x0 [B]`, CFG included.

    Each sample's prediction is what core's `_calc_cond_batch` + `cfg_function` compute for its region's
    cond lists alone (areas, masks and strengths as per-pixel multipliers, timestep ranges, default conds,
    hooks, ControlNet, GLIGEN, patches, `model_function_wrapper`, pre/post-cfg functions), while all
    samples share model calls. `shifts [B, 2]`, when given, is the `(dy, dx)` roll that bootstrap centring
    applied to each sample (engine `accepts_shifts`): samples of regions with positional conditioning are
    evaluated un-rolled, at canvas coordinates, so that it lands where the user put it.
    """
    accepts_shifts = True

    def __init__(self, model, positive: list[list[dict]], negative: list[list[dict]], cfg: float, model_options: dict):
        self.model, self.positive, self.negative = model, positive, negative
        self.cfg, self.model_options = cfg, model_options
        self.use_uncond = not math.isclose(cfg, 1.0) or model_options.get("disable_cfg1_optimization", False)
        self.positional = [bool(positional_keys(p + (negative[r] if r < len(negative) else [])))
                           for r, p in enumerate(positive)]

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, region: torch.Tensor,
                 shifts: torch.Tensor | None = None) -> torch.Tensor:
        sigma = sigma.to(x)
        regions = region.tolist()
        unroll = shifts is not None and any(self.positional)  # positional regions: evaluated at canvas coordinates
        if unroll:
            shifts = shifts.to(x.device) * torch.tensor(self.positional, device=x.device)[region.to(x.device), None]
            unroll = bool(shifts.any())
        x_in = roll2d(x, -shifts) if unroll else x
        kinds = (0, 1) if self.use_uncond else (0,)
        jobs = []  # (cond_obj, sample index, 0 = cond / 1 = uncond)
        for j, r in enumerate(regions):
            for kind in kinds:
                conds = (self.positive, self.negative)[kind][r]
                jobs += [(obj, j, kind) for obj in self._cond_objs(conds, x_in[j:j + 1], sigma[j:j + 1])]
        out = torch.zeros((2,) + x.shape, dtype=x.dtype, device=x.device)
        counts = torch.full_like(out, 1e-37)
        self.model.current_patcher.prepare_state(sigma)
        for group in self._groups(jobs):
            for chunk in self._fit_memory(group, x.device):
                for o, (obj, j, kind) in zip(self._run(chunk, sigma), chunk):  # o: [1, C, ...]
                    _narrow(out[kind, j:j + 1], obj.area).add_(o * obj.mult)
                    _narrow(counts[kind, j:j + 1], obj.area).add_(obj.mult)
        out = out / counts
        if unroll:
            out = roll2d(out, shifts.expand(2, -1, -1))
        return self._cfg(x, sigma, out[0], out[1])

    def _cond_objs(self, conds: list[dict], x: torch.Tensor, sigma: torch.Tensor) -> list:
        """Core's cond objects for one sample and one cond list (timestep ranges, areas, masks, defaults)."""
        hooked, defaults = {}, []
        for c in conds:
            if "default" in c:
                defaults.append(c)
                continue
            p = comfy.samplers.get_area_and_mult(c, x, sigma)
            if p is None:
                continue
            if p.hooks is not None:
                self.model.current_patcher.prepare_hook_patches_current_keyframe(sigma, p.hooks, self.model_options)
            hooked.setdefault(p.hooks, []).append((p, 0))
        if defaults:
            comfy.samplers.finalize_default_conds(self.model, hooked, [defaults], x, sigma, self.model_options)
        return [p for group in hooked.values() for p, _ in group]

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

    def _run(self, group, sigma: torch.Tensor) -> list[torch.Tensor]:
        """One model call for a group of cond objects, set up exactly as in core's `_calc_cond_batch`."""
        model, opts = self.model, self.model_options
        objs = [job[0] for job in group]
        hooks = objs[0].hooks
        input_x = torch.cat([o.input_x for o in objs])
        sig = torch.cat([sigma[job[1]:job[1] + 1] for job in group])
        c = comfy.samplers.cond_cat([o.conditioning for o in objs])
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
        topts["cond_or_uncond"] = cond_or_uncond[:]
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
        """Core's `sampling_function` tail: pre-cfg functions, then `cfg_function` (the uncond is 0 at cfg 1)."""
        opts, model = self.model_options, self.model
        pos = [c for cs in self.positive for c in cs]
        neg = [c for cs in self.negative for c in cs] if self.use_uncond else None
        out = [cond, uncond]
        for fn in opts.get("sampler_pre_cfg_function", []):
            out = fn({"conds": [pos, neg], "conds_out": out, "cond_scale": self.cfg, "timestep": sigma,
                      "input": x, "sigma": sigma, "model": model, "model_options": opts})
        return comfy.samplers.cfg_function(model, out[0], out[1], self.cfg, x, sigma, model_options=opts,
                                           cond=pos, uncond=neg)


def process_region_conds(model, conds: dict[str, list[dict]], count: int, noise, device, latent_image, denoise_mask,
                         seed) -> dict[str, list[dict]]:
    """Core's `process_conds` run on each region's own positive/negative lists, as core runs it on one prompt
    pair: opposite areas, uncond ControlNet/GLIGEN fill-ins and model conds stay inside their region."""
    by_kind = {k: group_by_region(v, count) for k, v in conds.items()}
    out = {k: [] for k in conds}
    for r in range(count):
        done = comfy.samplers.process_conds(model, noise, {k: v[r] for k, v in by_kind.items()}, device, latent_image,
                                            denoise_mask, seed)
        for k, v in done.items():
            out[k] += v  # copies of region r's dicts keep its tag
    return out


def unsupported_model_options(model_options: dict) -> list[str]:
    """Model patches that replace core's whole cond batching, which regions cannot share one call under."""
    found = []
    if "sampler_calc_cond_batch_function" in model_options:
        found.append("a sampler_calc_cond_batch_function (e.g. SkipLayerGuidanceDiTSimple)")
    if model_options.get("context_handler") is not None:
        found.append("context windows (a context_handler)")
    if comfy.patcher_extension.get_all_wrappers(comfy.patcher_extension.WrappersMP.CALC_COND_BATCH, model_options,
                                                is_model_options=True):
        found.append("a calc_cond_batch wrapper (e.g. EasyCache)")
    return found
