import errno
import json
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
)
from typer.testing import CliRunner

import mlx_download_weights
from mlx_entropix import download as dl
from tests.family_fixtures import FAMILY_CONFIGS, MAMBA_CONFIG, family_config

LLAMA_ID = "meta-llama/Llama-3.2-1B-Instruct"
MLX_ID = "mlx-community/Llama-3.2-1B-Instruct-4bit"

META_LLAMA_FILES = [
    ".gitattributes", "LICENSE.txt", "README.md", "USE_POLICY.md", "config.json", "generation_config.json",
    "model.safetensors", "original/consolidated.00.pth", "original/params.json", "original/tokenizer.model",
    "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json",
]
MLX_COMMUNITY_FILES = [
    ".gitattributes", "README.md", "config.json", "model.safetensors", "model.safetensors.index.json",
    "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json",
]
SHARDED_FILES = [
    "config.json", "generation_config.json", "model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
    "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors", "model.safetensors.index.json",
    "original/consolidated.00.pth", "original/params.json", "special_tokens_map.json", "tokenizer.json",
    "tokenizer_config.json", "chat_template.jinja",
]
CONSOLIDATED_FILES = [
    "config.json", "consolidated.safetensors", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
    "model.safetensors.index.json", "params.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json",
]
BIN_ONLY_FILES = ["config.json", "pytorch_model.bin", "tokenizer.model", "tokenizer_config.json", "model.gguf"]


def test_select_files_skips_original_and_docs():
    assert dl.select_files(META_LLAMA_FILES) == [
        "config.json", "generation_config.json", "model.safetensors", "special_tokens_map.json",
        "tokenizer.json", "tokenizer_config.json",
    ]


def test_select_files_mlx_community_keeps_the_index():
    assert dl.select_files(MLX_COMMUNITY_FILES) == [
        "config.json", "model.safetensors", "model.safetensors.index.json", "special_tokens_map.json",
        "tokenizer.json", "tokenizer_config.json",
    ]


def test_select_files_sharded_takes_every_shard():
    selected = dl.select_files(SHARDED_FILES)
    assert [f for f in selected if f.endswith(".safetensors")] == [f"model-0000{i}-of-00004.safetensors" for i in range(1, 5)]
    assert "model.safetensors.index.json" in selected and "chat_template.jinja" in selected
    assert not any(f.startswith("original/") or f.endswith((".pth", ".bin", ".gguf")) for f in selected)


def test_select_files_skips_the_consolidated_duplicate():
    selected = dl.select_files(CONSOLIDATED_FILES)
    assert "consolidated.safetensors" not in selected and "params.json" not in selected
    assert {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "tokenizer.model"} <= set(selected)


def test_select_files_without_safetensors_says_what_to_do():
    with pytest.raises(dl.DownloadError, match="no safetensors weights in org/old-llama; convert it or pick an mlx-community repo"):
        dl.select_files(BIN_ONLY_FILES, "org/old-llama")


def test_select_files_without_tokenizer_json_is_refused():
    with pytest.raises(dl.DownloadError, match="no tokenizer.json in org/x"):
        dl.select_files(["config.json", "model.safetensors", "tokenizer.model"], "org/x")


def test_default_out_dir_is_the_name_after_the_slash():
    assert dl.default_out_dir(MLX_ID) == Path("weights/Llama-3.2-1B-Instruct-4bit")


# --- a successful download, with the Hub client mocked at its boundary ---


def write_model(folder: Path, files: list[str], model_type: str = "llama") -> None:
    """Write the files a real download would, with plausible contents."""
    folder.mkdir(parents=True, exist_ok=True)
    shards = sorted(f for f in files if f.endswith(".safetensors"))
    for name in files:
        if name == "config.json":
            config = {"model_type": "llama", "hidden_size": 64} if model_type == "llama" else \
                family_config(model_type, 96) if model_type in FAMILY_CONFIGS else MAMBA_CONFIG
            content = json.dumps(config)
        elif name == "model.safetensors.index.json":
            content = json.dumps({"metadata": {}, "weight_map": {f"w{i}": s for i, s in enumerate(shards)}})
        else:
            content = "{}"
        (folder / name).write_text(content)


@pytest.fixture
def hub(monkeypatch):
    """A fake Hub holding `hub.files` for any repo; records the snapshot_download calls."""

    class FakeHub:
        files = MLX_COMMUNITY_FILES
        model_type = "llama"
        calls: list[list[str]] = []

    def list_repo_files(self, repo_id, **kw):
        return list(FakeHub.files)

    def snapshot_download(repo_id, *, local_dir, allow_patterns, **kw):
        FakeHub.calls.append(list(allow_patterns))
        write_model(Path(local_dir), allow_patterns, FakeHub.model_type)
        return str(local_dir)

    monkeypatch.setattr(HfApi, "list_repo_files", list_repo_files)
    monkeypatch.setattr(dl, "snapshot_download", snapshot_download)
    return FakeHub


runner = CliRunner()


def test_download_fetches_only_the_selected_files_and_prints_the_command(tmp_path, hub):
    out = tmp_path / "m"
    result = runner.invoke(mlx_download_weights.app, ["--model-id", MLX_ID, "--out-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert hub.calls == [["config.json"], dl.select_files(MLX_COMMUNITY_FILES)]
    assert dl.model_dir_problems(out) == []
    assert str(out) in result.stdout
    assert f'uv run mlx_main.py --model {out} --input "' in result.stdout.replace("'", '"')


def test_download_defaults_to_weights_name(tmp_path, hub, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(mlx_download_weights.app, ["--model-id", MLX_ID])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "weights/Llama-3.2-1B-Instruct-4bit/model.safetensors").is_file()
    assert "--model weights/Llama-3.2-1B-Instruct-4bit" in result.stdout


def test_download_refuses_an_unsupported_architecture_before_the_weights(tmp_path, hub):
    hub.model_type = "mamba"
    result = runner.invoke(mlx_download_weights.app, ["--model-id", "state-spaces/mamba-130m", "--out-dir", str(tmp_path / "q")])
    assert result.exit_code == 1
    assert "state-spaces/mamba-130m cannot run in mlx_main.py: model_type 'mamba'" in result.stderr
    assert "supported: llama" in result.stderr and "qwen3" in result.stderr
    assert hub.calls == [["config.json"]]


@pytest.mark.parametrize("model_type", ["mistral", "qwen2", "qwen3", "gemma3_text"])
def test_download_accepts_the_supported_families(tmp_path, hub, model_type):
    hub.model_type = model_type
    out = tmp_path / model_type
    result = runner.invoke(mlx_download_weights.app, ["--model-id", f"org/{model_type}", "--out-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert dl.model_dir_problems(out) == []


def test_bin_only_repo_is_a_clear_error(tmp_path, hub):
    hub.files = BIN_ONLY_FILES
    result = runner.invoke(mlx_download_weights.app, ["--model-id", "org/old", "--out-dir", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "no safetensors weights in org/old" in result.stderr
    assert hub.calls == []


# --- errors from the Hub client ---


def response(status: int) -> httpx2.Response:
    return httpx2.Response(status, request=httpx2.Request("GET", f"https://huggingface.co/api/models/{LLAMA_ID}"))


HUB_ERRORS = [
    (GatedRepoError("403 Client Error: gated", response=response(403)),
     ["accept the licence at https://huggingface.co/meta-llama/Llama-3.2-1B-Instruct", "hf auth login", "HF_TOKEN"]),
    (RepositoryNotFoundError("404 Client Error: not found", response=response(404)), ["no model repo", "check the id"]),
    (HfHubHTTPError("500 Server Error", response=response(500)), ["HTTP 500"]),
    (HFValidationError("Repo id must use alphanumeric chars"), ["not a valid repo id", "owner/name"]),
    (OfflineModeIsEnabled("Cannot reach https://huggingface.co: offline mode is enabled."), ["HF_HUB_OFFLINE=1", "unset it"]),
    (httpx2.ConnectError("[Errno -3] Temporary failure in name resolution"), ["cannot reach the Hugging Face Hub", "network"]),
    (LocalEntryNotFoundError("An error happened while trying to locate the files on the Hub"), ["cannot reach the Hugging Face Hub"]),
]


@pytest.mark.parametrize("where", ["list_repo_files", "snapshot_download"])
@pytest.mark.parametrize("error, expected", HUB_ERRORS, ids=lambda v: type(v).__name__ if isinstance(v, Exception) else "")
def test_hub_errors_are_one_line_with_the_fix(tmp_path, hub, monkeypatch, where, error, expected):
    def fail(*args, **kw):
        raise error

    if where == "list_repo_files":
        monkeypatch.setattr(HfApi, "list_repo_files", fail)
    else:
        monkeypatch.setattr(dl, "snapshot_download", fail)
    result = runner.invoke(mlx_download_weights.app, ["--out-dir", str(tmp_path / "x")])
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message
    for part in expected:
        assert part in message
    assert "Traceback" not in result.output


def test_disk_full_is_reported_with_the_folder(tmp_path, hub, monkeypatch):
    def no_space(repo_id, *, local_dir, allow_patterns, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dl, "snapshot_download", no_space)
    out = tmp_path / "full"
    result = runner.invoke(mlx_download_weights.app, ["--model-id", MLX_ID, "--out-dir", str(out)])
    assert result.exit_code == 1
    assert f"cannot write to {out}: No space left on device" in result.stderr
    assert "--out-dir" in result.stderr


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    def fail(self, repo_id, **kw):
        raise GatedRepoError("403 Client Error: gated", response=response(403))

    monkeypatch.setattr(HfApi, "list_repo_files", fail)
    result = runner.invoke(mlx_download_weights.app, ["--debug", "--out-dir", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert isinstance(result.exception, dl.DownloadError)
    assert isinstance(result.exception.__cause__, GatedRepoError)


# --- --list ---


def make_cache_repo(cache: Path, repo_id: str, files: list[str]) -> None:
    """A repo in the HF cache layout: snapshots/<commit>/ and refs/main."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    write_model(repo / "snapshots" / commit, files)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_list_shows_usable_and_unusable_folders(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    write_model(weights / "good", ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"])
    write_model(weights / "ssm", ["config.json", "model.safetensors", "tokenizer.json"], model_type="mamba")
    write_model(weights / "partial", ["config.json", "model-00001-of-00002.safetensors", "tokenizer.json"])
    (weights / "partial" / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    (weights / "empty").mkdir()
    cache = tmp_path / "hf-cache"
    make_cache_repo(cache, MLX_ID, dl.select_files(MLX_COMMUNITY_FILES))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))

    models = {m.ref: m for m in dl.list_local_models(weights)}
    assert models[str(weights / "good")].usable
    assert models[MLX_ID].usable and models[MLX_ID].source == "hf cache"
    [problem] = models[str(weights / "ssm")].problems
    assert problem.startswith("model_type 'mamba' keeps a state (ArraysCache)") and "supported: llama" in problem
    assert models[str(weights / "partial")].problems == ["missing weight shard model-00002-of-00002.safetensors"]
    assert models[str(weights / "empty")].problems == ["no config.json", "no .safetensors weights", "no tokenizer.json"]

    result = runner.invoke(mlx_download_weights.app, ["--list", "--weights-dir", str(weights)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "mamba" in out and "missing weight shard" in out and MLX_ID in out
    assert "uv run mlx_main.py --model" in out


def test_list_with_nothing_downloaded(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "no-cache"))
    result = runner.invoke(mlx_download_weights.app, ["--list", "--weights-dir", str(tmp_path / "none")])
    assert result.exit_code == 0
    assert "No models" in result.stdout
