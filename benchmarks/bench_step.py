"""Benchmark: one whole CLIP-guided DDIM step, ours against a reference assembled from guided-diffusion-sdk and DD.

The reference step is what DD v5.7 runs at the first step of a 250-step frame with its default models: guided-
diffusion's ``SpacedDiffusion`` (1000 diffusion steps respaced to ``ddim250``, linear betas, rescaled timesteps,
learned sigmas) calling ``ddim_sample`` with guided-diffusion's 512x512 ``UNetModel`` in float32 (DD on CPU) and a
``cond_fn`` written here with DD's formulas: the secondary model's clean image, three CLIP models (ViT-B/32,
ViT-B/16, RN50 in OpenAI's architectures, float32), ``cutn_batches=4`` batches of DD's ``MakeCutoutsDango`` at the
first step's cut schedule (12 overviews, 4 inner crops, ``ic_pow`` 1, gray share 0.2) with the 3D-mode torchvision
augmentations, the spherical distance loss, the tv/range/saturation terms and ``clamp_grad``.

Ours is one ``sample_ddim`` step through ``ScoreGuidance(EpsDenoiser(UNetModel), ClipGuidance(...))`` built as the
diffusion generator builds it, with the precisions ``model.precision=auto`` and ``model.clip_precision=auto``
choose on this device.

Both get the same weights: every parameter (and batch-norm statistic) is re-randomised, seeded by its name, so
the two models of a pair are equal without a copy in the process. Same input, prompts (random target embeddings),
thread count. Timings alternate the two steps in one child process; each peak-memory figure comes from a child
that built and ran only that configuration; the gradient agreement comes from a third child that calls both
guidance functions with the random generator seeded identically (so they draw the same cutouts and
augmentations). Children run one at a time.

    python -m benchmarks.bench_step                    # 256x256 frame, 5 timed steps each, 2 threads
    python -m benchmarks.bench_step --size 512 --repeats 5

See benchmarks/README.md for the method and the results.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import warnings

import torch
import torch.nn.functional as F
import torchvision.transforms as T
import torchvision.transforms.functional as TF

from benchmarks import flops
from benchmarks.common import ROOT, fill_, peak_rss, rel_error, run_worker, time_once
from benchmarks.step_flops import GUIDED_STEPS, dd_frame_work, step_work

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

UNET = "512x512_diffusion_uncond_finetune_008100"
CLIPS = ("ViT-B-32", "ViT-B-16", "RN50")  # DD's defaults; OpenAI's weights use QuickGELU
STEPS, INDEX = 250, 249  # the first step of a 250-step run: model time 996, cut schedule index 3
ETA = 0.8
GUIDANCE = dict(clip_guidance_scale=5000.0, tv_scale=0.0, range_scale=150.0, sat_scale=0.0, cutn_batches=4,
                clamp_grad=True, clamp_max=0.05)
CUTS = dict(cut_overview="[12]*400+[4]*600", cut_innercut="[4]*400+[12]*600", cut_ic_pow="[1]*1000",
            cut_icgray_p="[0.2]*400+[0]*600")
PROMPT_WEIGHTS = (1.0, 1.0)  # DD's default frame prompts: two texts of weight 1
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# The rows: (implementation, UNet precision, CLIP precision). "auto" is what model.precision=auto and
# model.clip_precision=auto choose on the device (render/config/precision.py). DD runs everything in fp32 on a CPU and
# the UNet (convert_to_fp16) and OpenAI CLIPs in fp16 on CUDA.
ROWS = {"ref fp32": ("ref", "fp32", "fp32"), "ref fp16": ("ref", "fp16", "fp16"), "ours fp32": ("ours", "fp32", "fp32"),
        "ours fp16": ("ours", "fp16", "fp16"), "ours auto": ("ours", "auto", "auto")}
DEVICE_ROWS = {"cpu": ("ref fp32", "ours fp32", "ours auto"),
               "cuda": ("ref fp32", "ref fp16", "ours fp32", "ours fp16", "ours auto")}
DD_ROW = {"cpu": "ref fp32", "cuda": "ref fp16"}  # what Disco Diffusion itself runs on that device
SAME_PRECISION = {"ours fp32": "ref fp32", "ours fp16": "ref fp16"}


# ------------------------------------------------------------------------------------------------ weights

def build_unet(impl: str, precision: str, device: torch.device) -> torch.nn.Module:
    """DD's 512x512 UNet: guided-diffusion's (fp16 as DD converts it: ``convert_to_fp16``), or ours."""
    from render.diffusion.unet import UNET_CONFIGS, UNetModel

    cfg = UNET_CONFIGS[UNET]
    with torch.device("meta"):
        if impl == "ours":
            model = UNetModel(cfg, precision=precision, channels_last=True, use_checkpoint=True)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                from guided_diffusion.script_util import create_model
            model = create_model(cfg.image_size, cfg.model_channels, cfg.num_res_blocks, learn_sigma=True,
                                 attention_resolutions="32,16,8", num_head_channels=cfg.num_head_channels,
                                 resblock_updown=True, use_scale_shift_norm=True, use_checkpoint=True,
                                 use_fp16=precision == "fp16")
    model = fill_(model.to_empty(device="cpu"))
    if impl == "ref" and precision == "fp16":
        model.convert_to_fp16()
    return model.to(device).eval().requires_grad_(False)


def build_secondary(device: torch.device = torch.device("cpu")) -> torch.nn.Module:
    from render.diffusion.secondary import SecondaryDiffusionImageNet2

    return fill_(SecondaryDiffusionImageNet2()).to(device).eval().requires_grad_(False)


def build_clip(arch: str, device: torch.device = torch.device("cpu")) -> torch.nn.Module:
    """An open_clip CLIP in OpenAI's architecture (QuickGELU), float32, weights re-randomised."""
    import open_clip

    model = open_clip.create_model(f"{arch}-quickgelu", device="cpu", precision="fp32")
    return fill_(model).to(device).eval().requires_grad_(False)


def random_targets(embed_dim: int, index: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1000 + index)
    embeds = torch.randn(len(PROMPT_WEIGHTS), embed_dim, generator=gen)
    weights = torch.tensor(PROMPT_WEIGHTS)
    return embeds.to(device), (weights / weights.sum().abs()).to(device)


def start_image(size: int, device: torch.device = torch.device("cpu")) -> torch.Tensor:
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(7)).to(device)


# ------------------------------------------------------------------------------------------------ the reference

def _gray(x: torch.Tensor) -> torch.Tensor:
    return T.Grayscale(3)(x)


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    # DD uses ResizeRight's antialiased cubic, which is not installable offline; the project's cutouts use the same
    # antialiased bicubic, so the two sides resize alike.
    return F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False)


class RefCutouts(torch.nn.Module):
    """DD's MakeCutoutsDango, 2D/3D animation mode, as DD writes it (including ``i <= int(p*n)`` for the gray inner
    crops: 1 of 4 at p=0.2, as the project's ``round(p*n)``)."""

    def __init__(self, cut_size, overview, inner_crop, ic_size_pow, ic_grey_p, skip_augs=False):
        super().__init__()
        self.cut_size, self.overview, self.inner_crop = cut_size, overview, inner_crop
        self.ic_size_pow, self.ic_grey_p, self.skip_augs = ic_size_pow, ic_grey_p, skip_augs
        noise = T.Lambda(lambda x: x + torch.randn_like(x) * 0.01)
        self.augs = T.Compose([
            T.RandomHorizontalFlip(p=0.4), noise,
            T.RandomAffine(degrees=10, translate=(0.05, 0.05), interpolation=T.InterpolationMode.BILINEAR), noise,
            T.RandomGrayscale(p=0.1), noise,
            T.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1, hue=0.3),
        ])

    def forward(self, image):
        side_y, side_x = image.shape[2:4]
        max_size = min(side_x, side_y)
        min_size = min(side_x, side_y, self.cut_size)
        padded = F.pad(image, ((side_y - max_size) // 2, (side_y - max_size) // 2,
                               (side_x - max_size) // 2, (side_x - max_size) // 2))
        whole = _resize(padded, self.cut_size)
        cutouts = []
        if 0 < self.overview <= 4:
            cutouts += [whole, _gray(whole), TF.hflip(whole), _gray(TF.hflip(whole))][: self.overview]
        elif self.overview > 4:
            cutouts += [whole] * self.overview
        for i in range(self.inner_crop):
            size = int(torch.rand([]) ** self.ic_size_pow * (max_size - min_size) + min_size)
            offset_x = torch.randint(0, side_x - size + 1, ())
            offset_y = torch.randint(0, side_y - size + 1, ())
            crop = image[:, :, offset_y:offset_y + size, offset_x:offset_x + size]
            if i <= int(self.ic_grey_p * self.inner_crop):
                crop = _gray(crop)
            cutouts.append(_resize(crop, self.cut_size))
        batch = torch.cat(cutouts)
        return batch if self.skip_augs else self.augs(batch)


def _spherical_dist(x, y):
    x, y = F.normalize(x, dim=-1), F.normalize(y, dim=-1)
    return (x - y).norm(dim=-1).div(2).arcsin().pow(2).mul(2)


def _tv(x):
    x = F.pad(x, (0, 1, 0, 1), "replicate")
    dx, dy = x[..., :-1, 1:] - x[..., :-1, :-1], x[..., 1:, :-1] - x[..., :-1, :-1]
    return (dx ** 2 + dy ** 2).mean([1, 2, 3])


def _range(x):
    return (x - x.clamp(-1, 1)).pow(2).mean([1, 2, 3])


class RefCondFn:
    """DD's ``cond_fn`` (secondary-model branch) for guided-diffusion's ``condition_score``.

    One deliberate difference, the project's documented fix: the range loss reaches x through the prediction (DD
    differentiated it w.r.t. x_in, downstream of the prediction, so it contributed nothing). Without it the two
    steps would compute different things; the term costs one elementwise pass."""

    def __init__(self, diffusion, secondary, clips, skip_augs=False):
        from render.diffusion.secondary import alpha_sigma_to_t

        self.diffusion, self.secondary, self.clips = diffusion, secondary, clips  # clips: (model, embeds, weights)
        self.alpha_sigma_to_t, self.skip_augs = alpha_sigma_to_t, skip_augs
        self.overview, self.innercut = _cut(CUTS["cut_overview"]), _cut(CUTS["cut_innercut"])
        self.ic_pow, self.icgray = _cut(CUTS["cut_ic_pow"], False), _cut(CUTS["cut_icgray_p"], False)
        self.normalize = T.Normalize(mean=CLIP_MEAN, std=CLIP_STD)
        self.cur_t = INDEX

    def __call__(self, x, t, y=None):
        g = GUIDANCE
        d = self.diffusion
        with torch.enable_grad():
            x = x.detach().requires_grad_()
            n = x.shape[0]
            alpha = torch.tensor(d.sqrt_alphas_cumprod[self.cur_t], dtype=torch.float32, device=x.device)
            sigma = torch.tensor(d.sqrt_one_minus_alphas_cumprod[self.cur_t], dtype=torch.float32, device=x.device)
            cosine_t = self.alpha_sigma_to_t(alpha, sigma)
            out = self.secondary(x, cosine_t[None].repeat([n])).pred
            fac = d.sqrt_one_minus_alphas_cumprod[self.cur_t]
            x_in = out * fac + x * (1 - fac)
            x_in_grad = torch.zeros_like(x_in)
            k = 1000 - (int(t.item()) + 1)
            for model, embeds, weights in self.clips:
                for _ in range(g["cutn_batches"]):
                    cuts = RefCutouts(model.visual.image_size[0] if isinstance(model.visual.image_size, tuple)
                                      else model.visual.image_size, int(self.overview[k]), int(self.innercut[k]),
                                      float(self.ic_pow[k]), float(self.icgray[k]), self.skip_augs)
                    clip_in = self.normalize(cuts(x_in.add(1).div(2)))
                    dtype = next(model.parameters()).dtype  # DD's OpenAI CLIPs cast their input to fp16 on CUDA
                    image_embeds = model.encode_image(clip_in.to(dtype)).float()
                    dists = _spherical_dist(image_embeds.unsqueeze(1), embeds.unsqueeze(0))
                    dists = dists.view([int(self.overview[k]) + int(self.innercut[k]), n, -1])
                    losses = dists.mul(weights).sum(2).mean(0)
                    x_in_grad += torch.autograd.grad(losses.sum() * g["clip_guidance_scale"], x_in)[0] / g[
                        "cutn_batches"]
            sat_losses = torch.abs(x_in - x_in.clamp(min=-1, max=1)).mean()
            loss = _tv(x_in).sum() * g["tv_scale"] + sat_losses.sum() * g["sat_scale"]
            x_in_grad += torch.autograd.grad(loss, x_in)[0]
            range_term = _range(out).sum() * g["range_scale"]  # the fix: through the prediction, see above
            if not torch.isnan(x_in_grad).any():
                grad = -torch.autograd.grad([x_in, range_term], x, [x_in_grad, torch.ones_like(range_term)])[0]
            else:
                return torch.zeros_like(x)
        if g["clamp_grad"]:
            magnitude = grad.square().mean().sqrt()
            return grad * magnitude.clamp(max=g["clamp_max"]) / magnitude
        return grad


def _cut(text, integer=True):
    from render.guidance.cut_schedules import parse_cut_schedule

    return parse_cut_schedule(text, integer=integer)


def reference_diffusion():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from guided_diffusion.script_util import create_gaussian_diffusion
    return create_gaussian_diffusion(steps=(1000 // STEPS) * STEPS, learn_sigma=True, noise_schedule="linear",
                                     timestep_respacing=f"ddim{STEPS}", rescale_timesteps=True)


def reference_cond_fn(secondary, clips, skip_augs=False) -> RefCondFn:
    diffusion = reference_diffusion()
    device = next(secondary.parameters()).device
    targets = [(model, *random_targets(model.visual.output_dim, i, device)) for i, model in enumerate(clips)]
    return RefCondFn(diffusion, secondary, targets, skip_augs)


def reference_step(unet, cond_fn):
    diffusion = cond_fn.diffusion
    t = torch.tensor([INDEX], device=next(unet.parameters()).device)

    def step(x):
        cond_fn.cur_t = INDEX
        with torch.no_grad():  # as guided-diffusion's progressive loop
            return diffusion.ddim_sample(unet, x, t, clip_denoised=False, cond_fn=cond_fn, model_kwargs={},
                                         eta=ETA)["sample"]

    return step


# ------------------------------------------------------------------------------------------------ ours

def our_guidance(secondary, clips, precisions=None, skip_augs=False, archs=CLIPS, **settings):
    """ClipGuidance as the diffusion generator builds it, on the same (re-randomised) networks; ``precisions``:
    the CLIP precision per architecture, or "auto" (what the plan chooses on this device); ``settings``: more
    ``GuidanceSettings`` (``batch_cutouts``, ``compile``)."""
    from render.config import precision
    from render.diffusion.schedule import DiffusionSchedule
    from render.guidance.clip_models import ClipPerceptor, ClipSpec, auto_cpu_precision
    from render.guidance.cond import (
        ClipGuidance,
        CutSchedules,
        GuidanceSettings,
        SecondaryX0,
    )
    from render.guidance.cutouts import dango_augmentations
    from render.guidance.targets import Targets

    schedule = DiffusionSchedule.for_steps(STEPS)
    device = next(secondary.parameters()).device
    perceptors = []
    for arch, model in zip(archs, clips):
        spec = ClipSpec(arch, "openai")
        value = (precisions or {}).get(arch, "auto")
        value = precision.choose_clip(value, precision.probe(device), auto_cpu_precision(spec)).value
        perceptors.append(ClipPerceptor(spec, model, precision=value))
    cuts = CutSchedules(_cut(CUTS["cut_overview"]), _cut(CUTS["cut_innercut"]), _cut(CUTS["cut_ic_pow"], False),
                        _cut(CUTS["cut_icgray_p"], False))
    guidance = ClipGuidance(alphas_cumprod=schedule.alphas_cumprod, model_time=schedule.model_time,
                            predict_x0=SecondaryX0(secondary, schedule.alphas_cumprod), perceptors=perceptors,
                            settings=GuidanceSettings(**GUIDANCE, **settings), cuts=cuts,
                            augment=None if skip_augs else dango_augmentations("3d"))
    targets = [Targets(*random_targets(p.model.visual.output_dim, i, device)) for i, p in enumerate(perceptors)]
    guidance.set_frame(targets, None, 0.0)
    return schedule, guidance


def our_step(unet, schedule, guidance):
    from render.diffusion.samplers import EpsDenoiser, ScoreGuidance, sample_ddim

    guided = ScoreGuidance(EpsDenoiser(unet, schedule, clip_denoised=False), schedule, guidance)

    def step(x):
        return next(sample_ddim(guided, schedule, x, [INDEX], eta=ETA)).sample

    return step


def build(row: str, device: torch.device):
    """The step function of one row (implementation and precisions), with its networks on ``device``."""
    from render.config import precision

    impl, unet_precision, clip_precision = ROWS[row]
    secondary = build_secondary(device)  # fp32 on both sides, as DD runs it
    clips = [build_clip(arch, device) for arch in CLIPS]
    if impl == "ref":
        if clip_precision == "fp16":
            clips = [c.half() for c in clips]
        return reference_step(build_unet(impl, unet_precision, device), reference_cond_fn(secondary, clips))
    if unet_precision == "auto":
        unet_precision = precision.choose_unet("auto", precision.probe(device)).value
    schedule, guidance = our_guidance(secondary, clips, {arch: clip_precision for arch in CLIPS})
    return our_step(build_unet(impl, unet_precision, device), schedule, guidance)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------------------------------ workers

def time_worker(args) -> dict:
    """Every row's step in this process, alternated after a warm-up each; then each output under the same seed,
    against the reference of the same precision."""
    device = torch.device(args.device)
    x = start_image(args.size, device)
    steps = {row: build(row, device) for row in DEVICE_ROWS[device.type]}
    times = {row: [] for row in steps}
    for step in steps.values():
        step(x)  # warm-up
    for _ in range(args.repeats):
        for row, step in steps.items():
            times[row].append(time_once(lambda: (step(x), _sync(device))))
    samples = {}
    for row, step in steps.items():
        torch.manual_seed(0)
        samples[row] = step(x).float().cpu()
    errors = {row: rel_error(samples[row], samples[SAME_PRECISION.get(row, DD_ROW[device.type])])
              for row in steps if row.startswith("ours")}
    return {"times": times, "sample_rel_error": errors}


def memory_worker(args) -> dict:
    """One row alone: build, a warm-up step and one more; the peak resident set, or on CUDA the peak of
    ``torch.cuda.max_memory_allocated`` (the caching allocator's live tensors)."""
    device = torch.device(args.device)
    x = start_image(args.size, device)
    step = build(args.impl, device)
    step(x)
    step(x)
    if device.type == "cuda":
        return {"peak": torch.cuda.max_memory_allocated(device)}
    return {"peak": peak_rss()}


def agreement_worker(args) -> dict:
    """The guidance gradients of both cond_fns at the first step, with torch's generator seeded identically before
    each call (both draw the same crops, flips, affines, noise and jitter), with and without augmentations; ours
    at its chosen precisions and all in float32."""
    device = torch.device(args.device)
    secondary = build_secondary(device)
    clips = [build_clip(arch, device) for arch in CLIPS]
    x = start_image(args.size, device)
    index = torch.tensor([INDEX], device=device)
    out = {}
    for skip_augs in (False, True):
        ref = reference_cond_fn(secondary, clips, skip_augs)
        t = torch.tensor([float(ref.diffusion.timestep_map[INDEX]) * 1000.0 / ref.diffusion.original_num_steps],
                         device=device)
        torch.manual_seed(3)
        expected = ref(x, t)
        for label, precisions in (("fp32", {arch: "fp32" for arch in CLIPS}), ("auto", None)):
            _, guidance = our_guidance(copy.deepcopy(secondary), [copy.deepcopy(c) for c in clips], precisions,
                                       skip_augs)
            torch.manual_seed(3)
            got = guidance(x, index)
            key = f"{'skip_augs' if skip_augs else 'augs'}/{label}"
            out[key] = {"rel_error": rel_error(got.cpu(), expected.cpu()), "cosine": cosine(got.cpu(), expected.cpu())}
            print(key, out[key], file=sys.stderr, flush=True)
    return out


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return F.cosine_similarity(a.flatten().float(), b.flatten().float(), dim=0).item()


def child(args, role: str, impl: str = "") -> dict:
    argv = ["--worker", role, "--impl", impl, "--size", str(args.size), "--repeats", str(args.repeats),
            "--threads", str(args.threads), "--device", args.device]
    return run_worker("benchmarks.bench_step", argv, args.threads, f"{role} {impl}")


ROW_LABELS = {"ref fp32": "reference: guided-diffusion fp32 + DD's cond_fn, fp32 CLIPs (DD on a CPU)",
              "ref fp16": "reference: guided-diffusion convert_to_fp16 + DD's cond_fn, fp16 CLIPs (DD on CUDA)",
              "ours fp32": "ours, UNet fp32, CLIPs fp32", "ours fp16": "ours, UNet fp16, CLIPs fp16",
              "ours auto": "ours, precision=auto and clip_precision=auto"}


def row_precisions(row: str, device: torch.device) -> tuple[str, dict[str, str]]:
    """The UNet's precision and each CLIP's of a row (``auto`` resolved as the plan resolves it on ``device``)."""
    from render.config import precision
    from render.guidance.clip_models import ClipSpec, auto_cpu_precision

    _, unet, clip = ROWS[row]
    if unet != "auto":
        return unet, {arch: clip for arch in CLIPS}
    hw = precision.probe(device)
    clips = {a: precision.choose_clip("auto", hw, auto_cpu_precision(ClipSpec(a, "openai"))).value for a in CLIPS}
    return precision.choose_unet("auto", hw).value, clips


def row_work(row: str, device: torch.device, size: int) -> tuple[list[flops.Work], list[flops.Work]]:
    """The counted FLOPs of the row's timed step, and of one step of a DD-default animation frame by its code."""
    impl = ROWS[row][0]
    unet, clips = row_precisions(row, device)
    return (step_work(impl, size, size, unet_precision=unet, clip_precisions=clips),
            dd_frame_work(impl, unet_precision=unet, clip_precisions=clips))


def table(times: dict, peaks: dict, device: torch.device, size: int, peak: flops.Peak) -> str:
    """One row per configuration: speed against the reference of the same precision and against what DD runs on
    this device (the latter compares different precisions where the row's differ from DD's: see ``precision``);
    the step's counted FLOPs, achieved TFLOP/s and fraction of the device's peak; the DD-frame estimate."""
    dd = DD_ROW[device.type]
    memory = "peak GPU GB" if device.type == "cuda" else "peak RSS GB"
    lines = [f"| row | precision (UNet/CLIP) | median s | min s | max s | vs ref same precision | vs DD on "
             f"{device.type} | {memory} | memory vs DD | FLOP/step | TFLOP/s | of peak | est. s per DD frame |",
             "|" + "---|" * 13]
    for row, values in times.items():
        med = statistics.median(values)
        same = SAME_PRECISION.get(row)
        vs_same = f"{statistics.median(times[same]) / med:.2f}x" if same in times else "-"
        vs_dd = f"{statistics.median(times[dd]) / med:.2f}x" if row != dd else "1.00x"
        unet, clips = row_precisions(row, device)
        precision = f"{unet}/{'+'.join(sorted(set(clips.values())))}"
        used = peaks.get(row)
        mem = f"{used / 1e9:.2f} | {used / peaks[dd]:.2f}" if used and peaks.get(dd) else "- | -"
        step, frame = row_work(row, device, size)
        estimate = med * flops.total(frame) / flops.total(step) * GUIDED_STEPS
        lines.append(f"| {ROW_LABELS[row]} | {precision} | {med:.2f} | {min(values):.2f} | {max(values):.2f} | "
                     f"{vs_same} | {vs_dd} | {mem} | {' | '.join(flops.cells(step, med, peak))} | {estimate:.0f} |")
    return "\n".join(lines)


def speed_summary(times: dict, device: torch.device) -> list[str]:
    """Two lines: ours against DD's code at the same precisions, and ``auto`` against what DD runs here."""
    ratio = lambda row, ref: statistics.median(times[ref]) / statistics.median(times[row])  # noqa: E731
    same = [f"{row} {ratio(row, ref):.2f}x {ref}" for row, ref in SAME_PRECISION.items() if {row, ref} <= set(times)]
    dd = DD_ROW[device.type]
    unet, clips = row_precisions("ours auto", device)
    return [f"Same precision (one guided step, ours vs DD's code): {', '.join(same)}.",
            f"DD on this device ({dd}) vs ours auto ({unet}/{'+'.join(sorted(set(clips.values())))}): "
            f"{ratio('ours auto', dd):.2f}x."]


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="frame side in pixels (DD's default is 1280x768)")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per row, after a warm-up")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--skip-memory", action="store_true", help="timings and agreement only")
    parser.add_argument("--worker", choices=["time", "memory", "agree"], help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        torch.set_num_threads(args.threads)
        worker = {"time": time_worker, "memory": memory_worker, "agree": agreement_worker}[args.worker]
        print(json.dumps(worker(args)))
        return ""
    device = torch.device(args.device)
    timing = child(args, "time")
    print(f"timings: {timing}", file=sys.stderr, flush=True)
    peaks = {}
    if not args.skip_memory:
        for row in DEVICE_ROWS[device.type]:
            peaks[row] = child(args, "memory", row)["peak"]
            print(f"peak memory {row}: {peaks[row] / 1e9:.2f} GB", file=sys.stderr, flush=True)
    agreement = child(args, "agree")
    peak = flops.device_peak(device, args.threads)
    frame = dd_frame_work("ours")
    lines = [f"One guided DDIM step (step {INDEX} of {STEPS}: {CUTS['cut_overview']} overviews -> 12, 4 inner crops, "
             f"cutn_batches {GUIDANCE['cutn_batches']}, CLIPs {', '.join(CLIPS)}), frame {args.size}x{args.size} on "
             f"{args.device}, {args.threads} threads, torch {torch.__version__}; {args.repeats} timed steps per row, "
             f"alternated in one process. FLOPs counted on fake tensors (matrix products, convolutions, attention); "
             f"{flops.peak_line(peak)} The last column is the median times the ratio of counted FLOPs of a step of "
             f"DD's default animation frame (1280x768 with LPIPS; ours {flops.fmt_flops(flops.total(frame))}) to "
             f"the timed step's, times {GUIDED_STEPS} guided steps.", "",
             table(timing["times"], peaks, device, args.size, peak), "",
             "| step output (x_(t-1)) under the same seed | rel. L2 error vs reference |", "|---|---|"]
    lines += [f"| {row} vs {SAME_PRECISION.get(row, DD_ROW[device.type])} | {err:.1e} |"
              for row, err in timing["sample_rel_error"].items()]
    lines += ["", "| guidance gradient vs reference cond_fn | rel. L2 error | cosine |", "|---|---|---|"]
    lines += [f"| {key} | {value['rel_error']:.1e} | {value['cosine']:.6f} |" for key, value in agreement.items()]
    lines += ["", *speed_summary(timing["times"], device)]
    report = "\n".join(lines)
    print(report)
    return report


if __name__ == "__main__":
    main()
