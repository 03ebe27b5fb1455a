"""`mlx_main.py calibrate`: a fit written where the presets find it, one error line on bad input."""

from typer.testing import CliRunner

import mlx_entropix.cli.app as cli
import mlx_entropix.cli.calibrate as calibrate_cli
from mlx_entropix.sampler import fitted
from mlx_entropix.sampler.fitted import model_fingerprint, read_fit, resolve_preset


def invoke(*args: str):
    return CliRunner().invoke(cli.app, ["calibrate", *args])


def test_calibrate_writes_a_fit_the_entropix_preset_then_uses(lm, tmp_path, monkeypatch):
    monkeypatch.setattr(calibrate_cli, "load", lambda ref: lm)
    monkeypatch.setenv(fitted.CACHE_ENV, str(tmp_path / "cache"))
    csv = tmp_path / "p.csv"
    csv.write_text("name,prompt\na,Name a colour.\nb,Count to three.\n")
    r = invoke("--prompt-csv", str(csv), "--max-tokens", "4", "--argmax-share", "0.4", "--out", str(tmp_path / "c.toml"))
    assert r.exit_code == 0, r.output
    path = tmp_path / "cache" / f"{model_fingerprint(lm)}.toml"
    fit = read_fit(path)
    assert set(fit.tables) == {"quadrant", "frog"}
    cfg = resolve_preset("entropix", lm)
    assert cfg.thresholds == "fitted" and cfg.low_ent == fit.tables["quadrant"]["low_ent"]
    assert "target_argmax = 0.4" in path.read_text()
    assert (tmp_path / "c.toml").is_file()


def test_bad_targets_are_one_error_line(tmp_path):
    r = invoke("--argmax-share", "1.5", "--fit-dir", str(tmp_path))
    assert r.exit_code == 1
    assert r.stderr.strip() == "error: target share argmax must be in [0, 1], got 1.5"
    r = invoke("--search", "0.5,x", "--fit-dir", str(tmp_path))
    assert r.exit_code == 1
    assert r.stderr.strip() == "error: --search takes comma-separated fractions such as 0.3,0.5, got '0.5,x'"
    r = invoke("--search", "0.95", "--fit-dir", str(tmp_path))
    assert r.stderr.strip() == "error: target shares argmax + high_vent must be <= 1, got 0.95 + 0.1"
    r = invoke("--compare", "greedy,fancy", "--fit-dir", str(tmp_path))
    assert r.exit_code == 1
    assert r.stderr.strip().startswith("error: unknown method 'fancy': give normal, entropix")
