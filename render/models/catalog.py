"""Every weight file the renderer knows: DD v5.7's diffusion and secondary models, OpenAI/OpenCLIP CLIPs, LPIPS's VGG16,
the MiDaS/AdaBins/Depth Anything V2 depth models and the RAFT flow models, with their hashes, URLs and aliases.

Every entry but one has its full sha256. DD's own models: DD's ``diff_model_map``; OpenAI CLIP: the URL path. The files
whose names carry only an 8-hex prefix (OpenCLIP's release files, torchvision's VGG16 and RAFT, MiDaS) and
princeton-vl's raft-things.pth: the digests that several independent public download scripts, checksum tables and
Hugging Face mirrors (their LFS pointers) publish for the same files, each starting with the file's prefix. A file is
checked against its sha256 before it is used (``render.models.registry.verify``, cached beside the file).

The exception is DPT-Hybrid NYU (``dpt_hybrid_nyu-2ce69ec7.pt``): no public source gives more of its digest than the
8 hex digits in its name, and 32 bits do not identify a file. Its entry is marked ``sha256_unpublished``: the prefix is
checked, the full digest of the first copy used is recorded in the models folder (and in the run's ``run.json``), and
a later file that differs is refused (``ChangedModelFile``); ``$DISCO_ANIM_SHA256_DPT_HYBRID_NYU`` pins a digest.

Depth Anything V2's files carry no hash in their names; their sha256 and sizes are the ones Hugging Face's LFS
pointers give (the official repositories for Small and Base; mirrors of the same file for Large), each confirmed by
independent download scripts that pin them. Base and Large are licensed CC-BY-NC-4.0 (``ModelFile.license``).
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from render.models.files import ModelFile


def _basename(url: str) -> str:
    return Path(urlparse(url).path).name


def _dd(key: str, sha256: str, urls: list[str], kind: str, description: str) -> ModelFile:
    """A file from DD's ``diff_model_map``; the local name is the first URL's base name, as in DD."""
    return ModelFile(key, _basename(urls[0]), sha256, None, tuple(urls), kind, description)


def _openai_clip(key: str, sha256: str, name: str) -> ModelFile:
    """An OpenAI CLIP checkpoint; OpenAI puts the file's full sha256 in the URL path."""
    url = f"https://openaipublic.azureedge.net/clip/models/{sha256}/{name}.pt"
    return ModelFile(key, f"{name}.pt", sha256, None, (url,), "clip", f"OpenAI CLIP {key}")


def _openclip(key: str, filename: str, sha256: str, size: int | None = None) -> ModelFile:
    """An OpenCLIP v0.2 release file (key ``ARCH/TAG``); its name ends with the first 8 hex digits of its sha256."""
    url = f"https://github.com/mlfoundations/open_clip/releases/download/v0.2-weights/{filename}"
    prefix = Path(filename).stem.rsplit("-", 1)[1]
    arch, tag = key.split("/")
    return ModelFile(key, filename, sha256, size, (url,), "clip", f"OpenCLIP {arch} trained on {tag}",
                     sha256_prefix=prefix)


_HF = "https://huggingface.co"
_KALIYUGA = "KaliYuga diffusion model (256x256, fine-tuned from OpenAI's 256x256 unconditional model)"


def _dd_files() -> list[ModelFile]:
    """The 10 diffusion models and the secondary model of DD v5.7 (``diff_model_map``)."""
    def kali(name: str) -> str:
        return f"{_HF}/KaliYuga/{name}/resolve/main/{name}.pt"

    return [
        _dd("256x256_diffusion_uncond", "a37c32fffd316cd494cf3f35b339936debdc1576dad13fe57c42399a5dbc78b1",
            ["https://openaipublic.blob.core.windows.net/diffusion/jul-2021/256x256_diffusion_uncond.pt",
             "https://www.dropbox.com/s/9tqnqo930mpnpcn/256x256_diffusion_uncond.pt"],
            "diffusion", "OpenAI guided-diffusion 256x256 unconditional ImageNet model"),
        _dd("512x512_diffusion_uncond_finetune_008100",
            "9c111ab89e214862b76e1fa6a1b3f1d329b1a88281885943d2cdbe357ad57648",
            [f"{_HF}/lowlevelware/512x512_diffusion_unconditional_ImageNet/resolve/main/"
             "512x512_diffusion_uncond_finetune_008100.pt",
             "https://the-eye.eu/public/AI/models/512x512_diffusion_unconditional_ImageNet/"
             "512x512_diffusion_uncond_finetune_008100.pt"],
            "diffusion", "OpenAI 512x512 class-conditional model fine-tuned to unconditional (DD's default)"),
        _dd("portrait_generator_v001", "b7e8c747af880d4480b6707006f1ace000b058dd0eac5bb13558ba3752d9b5b9",
            [f"{_HF}/felipe3dartist/portrait_generator_v001/resolve/main/portrait_generator_v001_ema_0.9999_1MM.pt"],
            "diffusion", "portrait generator v001 (512x512, fine-tuned on portraits)"),
        _dd("pixelartdiffusion_expanded", "a73b40556634034bf43b5a716b531b46fb1ab890634d854f5bcbbef56838739a",
            [f"{_HF}/KaliYuga/PADexpanded/resolve/main/PADexpanded.pt"], "diffusion",
            f"pixel art, expanded: {_KALIYUGA}"),
        _dd("pixel_art_diffusion_hard_256", "be4a9de943ec06eef32c65a1008c60ad017723a4d35dc13169c66bb322234161",
            [kali("pixel_art_diffusion_hard_256")], "diffusion", f"pixel art, hard: {_KALIYUGA}"),
        _dd("pixel_art_diffusion_soft_256", "d321590e46b679bf6def1f1914b47c89e762c76f19ab3e3392c8ca07c791039c",
            [kali("pixel_art_diffusion_soft_256")], "diffusion", f"pixel art, soft: {_KALIYUGA}"),
        _dd("pixelartdiffusion4k", "a1ba4f13f6dabb72b1064f15d8ae504d98d6192ad343572cc416deda7cccac30",
            [kali("pixelartdiffusion4k")], "diffusion", f"pixel art 4k: {_KALIYUGA}"),
        _dd("watercolordiffusion_2", "49c281b6092c61c49b0f1f8da93af9b94be7e0c20c71e662e2aa26fee0e4b1a9",
            [kali("watercolordiffusion_2")], "diffusion", f"watercolour v2: {_KALIYUGA}"),
        _dd("watercolordiffusion", "a3e6522f0c8f278f90788298d66383b11ac763dd5e0d62f8252c962c23950bd6",
            [kali("watercolordiffusion")], "diffusion", f"watercolour: {_KALIYUGA}"),
        _dd("PulpSciFiDiffusion", "b79e62613b9f50b8a3173e5f61f0320c7dbb16efad42a92ec94d014f6e17337f",
            [kali("PulpSciFiDiffusion")], "diffusion", f"pulp sci-fi: {_KALIYUGA}"),
        _dd("secondary", "983e3de6f95c88c81b2ca7ebb2c217933be1973b1ff058776b970f901584613a",
            [f"{_HF}/spaces/huggi/secondary_model_imagenet_2.pth/resolve/main/secondary_model_imagenet_2.pth",
             "https://the-eye.eu/public/AI/models/v-diffusion/secondary_model_imagenet_2.pth",
             "https://ipfs.pollinations.ai/ipfs/bafybeibaawhhk7fhyhvmm7x24zwwkeuocuizbqbcg5nqx64jq42j75rdiy/"
             "secondary_model_imagenet_2.pth"],
            "secondary", "secondary model (SecondaryDiffusionImageNet2): cheap x0 prediction for the CLIP gradient"),
    ]


def _clip_files() -> list[ModelFile]:
    """OpenAI CLIP (``clip.load`` names) and the OpenCLIP release files behind the tags DD offers."""
    return [
        _openai_clip("ViT-B/32", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af", "ViT-B-32"),
        _openai_clip("ViT-B/16", "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f", "ViT-B-16"),
        _openai_clip("ViT-L/14", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836", "ViT-L-14"),
        _openai_clip("ViT-L/14@336px", "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
                     "ViT-L-14-336px"),
        _openai_clip("RN50", "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762", "RN50"),
        _openai_clip("RN101", "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599", "RN101"),
        _openai_clip("RN50x4", "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd", "RN50x4"),
        _openai_clip("RN50x16", "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa", "RN50x16"),
        _openai_clip("RN50x64", "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c", "RN50x64"),
        _openclip("ViT-B-32/laion2b_e16", "vit_b_32-laion2b_e16-af8dbd0c.pth",
                  "af8dbd0c4bf1654db018a2a70fd839c3a6e79d2fdac33303f06d0d8aae16a65c"),
        _openclip("ViT-B-32-quickgelu/laion400m_e31", "vit_b_32-quickgelu-laion400m_e31-d867053b.pt",
                  "d867053b2301634007ed9af230bfb1a217ec634f6c0329f04092133ae5c4b89e"),
        _openclip("ViT-B-32-quickgelu/laion400m_e32", "vit_b_32-quickgelu-laion400m_e32-46683a32.pt",
                  "46683a32721d5c68911153698992361285d20ca690bb4f317c11e45c03d798fa", 605159845),
        _openclip("ViT-B-16/laion400m_e31", "vit_b_16-laion400m_e31-00efa78f.pt",
                  "00efa78fe761eb607926704cfee46a4305ce2bf63af6ab50f1eeba2ef71da988", 598533543),
        _openclip("ViT-B-16/laion400m_e32", "vit_b_16-laion400m_e32-55e67d44.pt",
                  "55e67d44b44d9e39aaf299a5c616aaf10a655879d6bd5854027b4a254aa2e7d5", 598533543),
        _openclip("RN50-quickgelu/yfcc15m", "rn50-quickgelu-yfcc15m-455df137.pt",
                  "455df13750cec2d6bb5e578fa84fb59a63d40e9fdbae58e7e7155672e46dc578", 408319528),
        _openclip("RN50-quickgelu/cc12m", "rn50-quickgelu-cc12m-f000538c.pt",
                  "f000538c6c3c33c07e4fad5619f1b3d4cd591864dd3143778896112d1bf4fa7d", 408319286),
        _openclip("RN101-quickgelu/yfcc15m", "rn101-quickgelu-yfcc15m-3e04b30e.pt",
                  "3e04b30eb7070e69b78db2c33f12a48cfa1f697691ed198d61fb2abbb48db5a3", 479301100),
    ]


def _lpips_files() -> list[ModelFile]:
    """LPIPS(net='vgg') loads torchvision's VGG16; its linear layers ship inside the lpips package."""
    url = "https://download.pytorch.org/models/vgg16-397923af.pth"  # torchvision: the 8 hex are a sha256 prefix
    return [ModelFile("vgg16", "vgg16-397923af.pth", "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
                      553433881, (url,), "lpips",
                      "torchvision VGG16 ImageNet weights (LPIPS backbone, for init_scale)", sha256_prefix="397923af")]


# Depth models. MiDaS' names end with the first 8 hex digits of the sha256 (torch.hub's convention); the full
# digests are the ones other projects publish for the same files (ControlNet's annotator table for DPT-Hybrid,
# several download scripts and checksum notes for the others, MiDaS v2.1 large with its size; for DPT-Large and the
# v2.1 models also under their MiDaS v3.1 names dpt_large_384.pt, midas_v21_384.pt and midas_v21_small_256.pt).
# DPT-Hybrid NYU: only the prefix is public (see the module docstring). AdaBins' size is the one its Hugging Face
# copies' LFS pointers give for this sha256. Licences: the repositories that release the files (MiDaS and DPT: MIT;
# AdaBins: GPL-3.0).

def _depth_anything(size: str, encoder: str, sha256: str, n_bytes: int, license: str, what: str) -> ModelFile:
    """A Depth Anything V2 relative-depth checkpoint from its official Hugging Face repository."""
    repo = f"{_HF}/depth-anything/Depth-Anything-V2-{size.title()}"
    filename = f"depth_anything_v2_{encoder}.pth"
    return ModelFile(f"depth_anything_v2_{size}", filename, sha256, n_bytes, (f"{repo}/resolve/main/{filename}",),
                     "depth", f"Depth Anything V2 {size.title()} (DINOv2 {what}; relative inverse depth), "
                              f"licence {license}", license=license)


_DPT = "https://github.com/intel-isl/DPT/releases/download/1_0"
_MIDAS = "https://github.com/isl-org/MiDaS/releases/download"
_ADABINS_CID = "Qmd2mMnDLWePKmgfS8m6ntAg4nhV5VkUyAydYBp8cWWeB7"

DEPTH_FILES = (
    ModelFile("dpt_large", "dpt_large-midas-2f21e586.pt",
              "2f21e586477d90cb9624c7eef5df7891edca49a1c4795ee2cb631fd4daa6ca69", 1376378527,
              (f"{_DPT}/dpt_large-midas-2f21e586.pt", f"{_MIDAS}/v3/dpt_large-midas-2f21e586.pt",
               "https://huggingface.co/deforum/MiDaS/resolve/main/dpt_large-midas-2f21e586.pt",
               f"{_MIDAS}/v3/dpt_large_384.pt"),
              "depth", "MiDaS v3 DPT-Large (ViT-L/16 at 384): DD's default 3D depth model",
              sha256_prefix="2f21e586", license="MIT"),
    ModelFile("dpt_hybrid", "dpt_hybrid-midas-501f0c75.pt",
              "501f0c75b3bca7daec6b3682c5054c09b366765aef6fa3a09d03a5cb4b230853", 492757791,
              (f"{_DPT}/dpt_hybrid-midas-501f0c75.pt", f"{_MIDAS}/v3/dpt_hybrid-midas-501f0c75.pt",
               "https://huggingface.co/lllyasviel/Annotators/resolve/main/dpt_hybrid-midas-501f0c75.pt",
               f"{_MIDAS}/v3/dpt_hybrid_384.pt"),
              "depth", "MiDaS v3 DPT-Hybrid (ResNet-50 + ViT-B/16 at 384): faster, a little less accurate",
              sha256_prefix="501f0c75", license="MIT"),
    ModelFile("dpt_hybrid_nyu", "dpt_hybrid_nyu-2ce69ec7.pt", None, None,
              (f"{_DPT}/dpt_hybrid_nyu-2ce69ec7.pt",),
              "depth", "DPT-Hybrid finetuned on NYU Depth v2 (indoor scenes; same network as dpt_hybrid). No full "
                       "sha256 is published: the first copy used is recorded and later ones must match it",
              sha256_prefix="2ce69ec7", sha256_unpublished=True, license="MIT"),
    ModelFile("midas_v21", "midas_v21-f6b98070.pt",
              "f6b980704cfd7259c7cc2b058c2f160159c55e84b3b6c08331b4156a84629f70", 422509849,
              (f"{_MIDAS}/v2_1/midas_v21-f6b98070.pt", f"{_MIDAS}/v2_1/midas_v21_384.pt",
               "https://github.com/AlexeyAB/MiDaS/releases/download/midas_dpt/midas_v21-f6b98070.pt"),
              "depth", "MiDaS v2.1 large (ResNeXt-101 32x8d at 384): the convolutional model before DPT",
              sha256_prefix="f6b98070", license="MIT"),
    ModelFile("midas_small", "midas_v21_small-70d6b9c8.pt",
              "70d6b9c891758c67f974a6097fb0c608c7ee67fb81ac3e5588847d5596d56fca", 85761505,
              (f"{_MIDAS}/v2_1/midas_v21_small-70d6b9c8.pt", f"{_MIDAS}/v2_1/midas_v21_small_256.pt",
               "https://github.com/AlexeyAB/MiDaS/releases/download/midas_dpt/midas_v21_small-70d6b9c8.pt"),
              "depth", "MiDaS v2.1 small (EfficientNet-Lite3 at 256): the fastest, lowest quality",
              sha256_prefix="70d6b9c8", license="MIT"),
    ModelFile("adabins_nyu", "AdaBins_nyu.pt",
              "3c917d1b86d058918d4055e70b2cdb9696ec4967bb2d8f05c0051263c1ac9641", 940558786,
              ("https://huggingface.co/deforum/AdaBins/resolve/main/AdaBins_nyu.pt",
               f"https://ipfs.io/ipfs/{_ADABINS_CID}/AdaBins_nyu.pt",
               f"https://cloudflare-ipfs.com/ipfs/{_ADABINS_CID}/AdaBins_nyu.pt"),
              "depth", "AdaBins NYU (EfficientNet-B5, 256 adaptive bins, metric depth 0.001-10 m): blended "
                       "with MiDaS when depth.midas_weight < 1 (DD: 0.3)", license="GPL-3.0"),
    _depth_anything("small", "vits", "715fade13be8f229f8a70cc02066f656f2423a59effd0579197bbf57860e1378", 99218434,
                    "Apache-2.0", "ViT-S/14, 24.8M parameters"),
    _depth_anything("base", "vitb", "0d2b7002e62d39d655571c371333340bd88f67ab95050c03591555aa05645328", 389961218,
                    "CC-BY-NC-4.0", "ViT-B/14, 97.5M parameters"),
    _depth_anything("large", "vitl", "a7ea19fa0ed99244e67b624c72b8580b7e9553043245905be58796a608eb9345", 1341395338,
                    "CC-BY-NC-4.0", "ViT-L/14, 335.3M parameters"),
)


# Optical flow (RAFT).
_TV = "https://download.pytorch.org/models"
_RAFT_ZIP = "https://dl.dropboxusercontent.com/s/4j4z58wuv8o0mfz/models.zip"

FLOW_FILES: tuple[ModelFile, ...] = (
    ModelFile("raft_large_C_T_SKHT_V2", "raft_large_C_T_SKHT_V2-ff5fadd5.pth",
              "ff5fadd56d26b40647388883af1547351ea17868b765c05b27231e72dd16a322", 21106607,
              (f"{_TV}/raft_large_C_T_SKHT_V2-ff5fadd5.pth",), "flow",
              "torchvision RAFT-large, Chairs+Things then Sintel/KITTI/HD1K/Things (torchvision's default)",
              sha256_prefix="ff5fadd5"),
    ModelFile("raft_small_C_T_V2", "raft_small_C_T_V2-01064c6d.pth",
              "01064c6dba73b0fc9fc8edf772248560a00a3acfd62ac6677e9eeebad9680e27", 4006189,
              (f"{_TV}/raft_small_C_T_V2-01064c6d.pth",), "flow",
              "torchvision RAFT-small, Chairs+Things (torchvision's default)", sha256_prefix="01064c6d"),
    ModelFile("raft-things", "raft-things.pth", "fcfa4125d6418f4de95d84aec20a3c5f4e205101715a79f193243c186ac9a7e1",
              21108000, (), "flow",
              f"princeton-vl RAFT-large trained on Chairs+Things (Disco Diffusion v5.7's flow model). It ships "
              f"only inside {_RAFT_ZIP} (princeton-vl/RAFT download_models.sh): unzip it and copy "
              f"models/raft-things.pth into the models folder"),
)

ALL_FILES: tuple[ModelFile, ...] = (*_dd_files(), *_clip_files(), *_lpips_files(), *DEPTH_FILES, *FLOW_FILES)

# open_clip's architecture name of each OpenAI checkpoint: ``create_model(arch, pretrained='openai')`` (and its
# ``-quickgelu`` twin) loads the same file as ``clip.load(key)``.
_OPENAI_ARCH = {"ViT-B/32": "ViT-B-32", "ViT-B/16": "ViT-B-16", "ViT-L/14": "ViT-L-14",
                "ViT-L/14@336px": "ViT-L-14-336", "RN50": "RN50", "RN101": "RN101", "RN50x4": "RN50x4",
                "RN50x16": "RN50x16", "RN50x64": "RN50x64"}


def _aliases() -> dict[str, str]:
    """Other names of the same files: open_clip's ``ARCH/TAG`` spellings. See ``openclip_key``."""
    aliases = {f"{arch}{gelu}/openai": key for key, arch in _OPENAI_ARCH.items() for gelu in ("", "-quickgelu")}
    # These OpenCLIP files were trained with QuickGELU; open_clip serves them under both architecture names.
    for arch, tag in [("ViT-B-32", "laion400m_e31"), ("ViT-B-32", "laion400m_e32"), ("RN50", "yfcc15m"),
                      ("RN50", "cc12m"), ("RN101", "yfcc15m")]:
        aliases[f"{arch}/{tag}"] = f"{arch}-quickgelu/{tag}"
    return aliases


ALIASES: dict[str, str] = _aliases()

_CLIPS = ["ViT-B/32", "ViT-B/16", "RN50"]  # DD's default CLIP selection
PRESET_FILES: dict[str, list[str]] = {  # kept equal to what the model presets need (a test checks it)
    "disco512": ["512x512_diffusion_uncond_finetune_008100", "secondary", *_CLIPS, "vgg16"],
    "disco256": ["256x256_diffusion_uncond", "secondary", *_CLIPS, "vgg16"],
}
