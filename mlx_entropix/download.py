"""Fetch a model from the Hugging Face Hub into a folder `mlx_main.py --model`
can load, and tell which local folders are loadable.

Only the files loading needs are fetched (decided from the repo's file list by
`select_files`), so a meta-llama repo does not bring its `original/*.pth`
duplicates along. Every failure is a DownloadError: one line naming what went
wrong and what to do.
"""

from __future__ import annotations

import contextlib
import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, constants, scan_cache_dir, snapshot_download
from huggingface_hub.errors import (
    CacheNotFound,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
)

from .families import UnsupportedFamily, check_family

DEFAULT_MODEL_ID = "meta-llama/Llama-3.2-1B-Instruct"
SUGGESTED_MODEL_ID = "mlx-community/Llama-3.2-1B-Instruct-4bit"
WEIGHTS_DIR = Path("weights")

CONFIG_FILES = ("config.json", "generation_config.json")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "chat_template.jinja",
)
SAFETENSORS_INDEX = "model.safetensors.index.json"
EXAMPLE_INPUT = "Which number is larger, 9.9 or 9.11?"


class DownloadError(Exception):
    """A download or listing that failed, with the reason and the fix in one line."""


def default_out_dir(model_id: str, weights_dir: Path = WEIGHTS_DIR) -> Path:
    """weights/<name>, name being the part of the repo id after the slash."""
    return weights_dir / model_id.rsplit("/", 1)[-1]


def run_command(model_ref: str | Path) -> str:
    """The command line that runs the CLI on a downloaded model."""
    return f"uv run mlx_main.py --model {shlex.quote(str(model_ref))} --input {shlex.quote(EXAMPLE_INPUT)}"


def select_files(repo_files: list[str], repo_id: str = "this repo") -> list[str]:
    """The files of a repo that loading needs, from its file list.

    Top-level files only: subfolders such as meta-llama's original/ hold
    duplicates in other formats. When sharded model-*.safetensors exist, a
    consolidated*.safetensors copy of the same weights is skipped.
    """
    top = [f for f in repo_files if "/" not in f]
    weights = [f for f in top if f.endswith(".safetensors")]
    if any(not f.startswith("consolidated") for f in weights):
        weights = [f for f in weights if not f.startswith("consolidated")]
    if not weights:
        raise DownloadError(
            f"no safetensors weights in {repo_id}; convert it or pick an mlx-community repo (e.g. {SUGGESTED_MODEL_ID})"
        )
    if "config.json" not in top:
        raise DownloadError(f"no config.json in {repo_id}: it is not a transformers-format model; pick another repo")
    if "tokenizer.json" not in top:
        raise DownloadError(f"no tokenizer.json in {repo_id}: the model cannot be loaded without it; pick another repo")
    wanted = set(CONFIG_FILES) | set(TOKENIZER_FILES) | {SAFETENSORS_INDEX} | set(weights)
    return sorted(f for f in top if f in wanted)


@contextlib.contextmanager
def hub_errors(model_id: str, out_dir: Path) -> Iterator[None]:
    """Turn the Hub client's exceptions into DownloadErrors that say what to do.

    Order matters: the hub's HTTP errors and "offline" errors are OSErrors too,
    so the generic disk error comes last.
    """
    try:
        yield
    except GatedRepoError as e:
        raise DownloadError(
            f"{model_id} is gated: accept the licence at https://huggingface.co/{model_id} "
            "and run `hf auth login` (or set HF_TOKEN)"
        ) from e
    except RepositoryNotFoundError as e:
        raise DownloadError(
            f"no model repo {model_id!r} on the Hugging Face Hub (or it is private): check the id, "
            f"e.g. {SUGGESTED_MODEL_ID}; for a private repo run `hf auth login` (or set HF_TOKEN)"
        ) from e
    except HFValidationError as e:
        raise DownloadError(f"{model_id!r} is not a valid repo id: use owner/name, e.g. {SUGGESTED_MODEL_ID}") from e
    except OfflineModeIsEnabled as e:
        raise DownloadError("HF_HUB_OFFLINE=1 is set, so nothing can be downloaded: unset it and retry") from e
    except (httpx2.TransportError, LocalEntryNotFoundError, ConnectionError, TimeoutError) as e:
        raise DownloadError(
            "cannot reach the Hugging Face Hub: check your network connection (or proxy settings) and retry"
        ) from e
    except HfHubHTTPError as e:
        status = e.response.status_code
        raise DownloadError(
            f"the Hugging Face Hub refused the request for {model_id} (HTTP {status}): "
            "check your token (`hf auth login` or HF_TOKEN) and retry later"
        ) from e
    except OSError as e:
        raise DownloadError(
            f"cannot write to {out_dir}: {e.strerror or e}; free some disk space or pick another --out-dir"
        ) from e


def download(model_id: str, out_dir: Path) -> Path:
    """Download what `mlx_main.py --model` needs from `model_id` into `out_dir`.

    config.json comes first, so an unsupported architecture is refused before
    gigabytes of weights are fetched. Resumable: files already complete in
    out_dir are not fetched again. The token comes from `hf auth login` or
    HF_TOKEN, as huggingface_hub does.
    """
    with hub_errors(model_id, out_dir):
        files = select_files(HfApi().list_repo_files(model_id), model_id)
        snapshot_download(model_id, local_dir=out_dir, allow_patterns=["config.json"])
        try:
            check_family(_read_config(out_dir / "config.json"))
        except UnsupportedFamily as e:
            raise DownloadError(f"{model_id} cannot run in mlx_main.py: {e}") from None
        except ValueError:
            raise DownloadError(f"the config.json of {model_id} is not a JSON object: pick another repo") from None
        snapshot_download(model_id, local_dir=out_dir, allow_patterns=files)
    problems = model_dir_problems(out_dir)
    if problems:
        raise DownloadError(f"{out_dir} is incomplete after the download ({problems[0]}): run the command again")
    return out_dir


def _read_config(config_path: Path) -> dict:
    """The config as a dict; ValueError when it is not a JSON object."""
    config = json.loads(config_path.read_text())
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} is not a JSON object")
    return config


def model_dir_problems(folder: Path) -> list[str]:
    """Why `folder` cannot be loaded by `mlx_main.py --model`, or [] if it can."""
    problems = []
    config_path = folder / "config.json"
    if not config_path.is_file():
        problems.append("no config.json")
    else:
        try:
            check_family(_read_config(config_path))
        except UnsupportedFamily as e:
            problems.append(str(e))
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            problems.append("config.json is not a JSON object")
    if not any(folder.glob("*.safetensors")):
        problems.append("no .safetensors weights")
    missing = _missing_shards(folder)
    if missing:
        problems.append(f"missing weight shard {missing[0]}")
    if not (folder / "tokenizer.json").is_file():
        problems.append("no tokenizer.json")
    return problems


def _missing_shards(folder: Path) -> list[str]:
    """Shards named by the safetensors index but absent (an interrupted download)."""
    index = folder / SAFETENSORS_INDEX
    if not index.is_file():
        return []
    try:
        shards = set(json.loads(index.read_text())["weight_map"].values())
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        return [SAFETENSORS_INDEX + " (unreadable)"]
    return sorted(s for s in shards if not (folder / s).is_file())


@dataclass
class LocalModel:
    """A model found on disk: `ref` is what to pass to `mlx_main.py --model`."""

    ref: str
    path: Path
    source: str
    problems: list[str]

    @property
    def usable(self) -> bool:
        return not self.problems


def list_local_models(weights_dir: Path = WEIGHTS_DIR, cache_dir: Path | None = None) -> list[LocalModel]:
    """Model folders under weights_dir and model repos in the HF cache
    (cache_dir, default the one huggingface_hub uses), loadable or not."""
    found = []
    if weights_dir.is_dir():
        for folder in sorted(p for p in weights_dir.iterdir() if p.is_dir()):
            found.append(LocalModel(str(folder), folder, str(weights_dir), model_dir_problems(folder)))
    try:
        cache = scan_cache_dir(cache_dir if cache_dir is not None else constants.HF_HUB_CACHE)
    except CacheNotFound:
        return found
    for repo in sorted(cache.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model" or not repo.revisions:
            continue
        # The revision `main` points to is the one the loader picks; else the newest.
        revision = max(repo.revisions, key=lambda r: ("main" in r.refs, r.last_modified))
        found.append(LocalModel(repo.repo_id, revision.snapshot_path, "hf cache", model_dir_problems(revision.snapshot_path)))
    return found
