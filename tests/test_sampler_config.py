import dataclasses
import json
import math
import tomllib

import pytest

from mlx_entropix.sampler.config import (
    FIELD_DOCS,
    PRESETS,
    ConfigError,
    SamplerConfig,
    config_fields,
    get_preset,
    load_config,
    save_config,
)

LN2 = math.log(2)

# Section 2 of the reference, thresholds in bits.
REFERENCE = {
    "temperature": 0.666, "top_p": 0.90, "top_k": 27, "min_p": 0.03,
    "helv_attn_ent_offset": 1.3, "helv_attn_ent_coef": 0.2,
    "lehv_interaction_strength_offset": 1.2, "lehv_interaction_strength_coef": 0.3,
    "hehv_attn_ent_coef": 0.2, "hehv_attn_vent_offset": 2.0, "hehv_attn_vent_coef": 0.5,
    "n_adaptive_samples": 5, "ada_temp_logits": 0.3, "ada_temp_attn": 0.2, "ada_temp_agree": 0.2,
    "ada_top_p": 0.1, "ada_top_k_int": 0.3, "ada_top_k_agree": 0.2, "ada_min_p": 0.5,
    "ada_score_logits_ent": 0.1, "ada_score_attn_ent": 0.2, "ada_score_logits_vent": 0.3,
    "ada_score_attn_vent": 0.4, "ada_score_agree": 0.5, "ada_score_int": 0.6,
}  # fmt: skip
BITS_ENT = {"low_ent": 0.1, "med_ent": 3.0, "high_ent": 5.0}
BITS_VENT = {"low_vent": 0.1, "high_vent": 5.0}


def test_defaults_equal_reference_converted_to_nats():
    cfg = SamplerConfig()
    for name, value in REFERENCE.items():
        assert getattr(cfg, name) == value, name
    for name, bits in BITS_ENT.items():
        assert getattr(cfg, name) == pytest.approx(bits * LN2, rel=1e-15), name
    for name, bits in BITS_VENT.items():
        assert getattr(cfg, name) == pytest.approx(bits * LN2**2, rel=1e-15), name


def test_every_field_is_documented():
    names = [f.name for f in dataclasses.fields(SamplerConfig)]
    assert list(FIELD_DOCS) == names
    assert all(len(doc) > 10 for doc in FIELD_DOCS.values())
    fields = {f["name"]: f for f in config_fields()}
    assert list(fields) == names
    assert fields["top_p"] == {
        "name": "top_p", "description": FIELD_DOCS["top_p"], "type": "float", "default": 0.9, "min": 0.0, "max": 1.0,
    }  # fmt: skip
    assert fields["temperature"]["max"] == 100.0  # 1/T must not underflow in float32
    assert fields["top_k"]["max"] == 2**31 - 1  # it goes to the device as int32
    assert fields["branch_score"]["choices"] == ["entropy", "margin"]
    json.dumps(config_fields(), allow_nan=False)


def test_dict_round_trip():
    cfg = SamplerConfig(low_ent=0.05, think_text=" Wait,", greedy=True)
    assert SamplerConfig.from_dict(cfg.to_dict()) == cfg
    assert SamplerConfig.from_dict({}) == SamplerConfig()


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_file_round_trip(tmp_path, suffix):
    cfg = SamplerConfig(
        min_p=1e-05, top_k=0, think_text='a "quoted"\n\ttext \\ é \U0001f600 \x7f', branch_score="margin", attn_layer=3
    )
    path = tmp_path / f"cfg{suffix}"
    save_config(cfg, path)
    assert load_config(path) == cfg


def test_toml_file_is_flat_and_readable(tmp_path):
    path = tmp_path / "cfg.toml"
    save_config(SamplerConfig(), path)
    data = tomllib.loads(path.read_text())
    assert data["greedy"] is False and data["top_k"] == 27 and data["think_text"] == " ..."


def test_partial_file_keeps_defaults(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_text("low_ent = 0.07\nbranching = false\n")
    assert load_config(path) == SamplerConfig(low_ent=0.07, branching=False, thresholds="custom")


def test_overrides_change_only_named_fields_and_accept_ints_for_floats():
    cfg = SamplerConfig().with_overrides({"low_ent": 0, "top_k": 40})
    assert cfg.low_ent == 0.0 and isinstance(cfg.low_ent, float)
    assert cfg.top_k == 40
    assert cfg.thresholds == "custom"
    assert dataclasses.replace(cfg, low_ent=SamplerConfig().low_ent, top_k=27, thresholds="published") == SamplerConfig()


def test_unknown_field_error_lists_known_fields():
    with pytest.raises(ConfigError, match=r"^unknown sampler field 'lowent'; known fields: temperature, top_p, .*attn_layer$"):
        SamplerConfig().with_overrides({"lowent": 1.0})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("top_k", 2.5, "sampler field 'top_k' must be an integer, got 2.5"),
        ("top_k", True, "sampler field 'top_k' must be an integer, got True"),
        ("top_p", "0.9", "sampler field 'top_p' must be a number, got '0.9'"),
        ("greedy", 1, "sampler field 'greedy' must be true or false, got 1"),
        ("think_text", 3, "sampler field 'think_text' must be a string, got 3"),
        ("top_p", 1.5, "sampler field 'top_p' = 1.5 is out of range; accepted: [0, 1]"),
        ("temperature", 0, "sampler field 'temperature' = 0 is out of range; accepted: (0, 100]"),
        ("temperature", 1e308, "sampler field 'temperature' = 1e+308 is out of range; accepted: (0, 100]"),
        ("temperature", 10**400, "sampler field 'temperature' = 1" + "0" * 400 + " is too large for a number"),
        ("top_k", 2**31, "sampler field 'top_k' = 2147483648 is out of range; accepted: [0, 2147483647]"),
        ("low_ent", math.nan, "sampler field 'low_ent' = nan is out of range; accepted: [0, inf)"),
        ("n_adaptive_samples", 0, "sampler field 'n_adaptive_samples' = 0 is out of range; accepted: [1, 64]"),
        ("branch_fraction", 0.0, "sampler field 'branch_fraction' = 0.0 is out of range; accepted: (0, 1]"),
        ("attn_layer", -2, "sampler field 'attn_layer' = -2 is out of range; accepted: [-1, inf)"),
        ("branch_score", "best", "sampler field 'branch_score' = 'best'; accepted: entropy, margin"),
        ("think_text", "", "think_text must not be empty; set max_think_insertions = 0 to disable insertions"),
        ("med_ent", 5.0, "entropy thresholds must satisfy low_ent <= med_ent <= high_ent, got 0.0693147, 5, 3.46574"),
        ("low_vent", 3.0, "varentropy thresholds must satisfy low_vent <= high_vent, got 3, 2.40227"),
    ],
)
def test_invalid_values_give_one_line_errors(field, value, message):
    with pytest.raises(ConfigError) as e:
        SamplerConfig().with_overrides({field: value})
    assert str(e.value) == message


def test_overrides_must_be_a_mapping():
    with pytest.raises(ConfigError, match="must be a table/object of fields, got list"):
        SamplerConfig.from_dict([1])


def test_load_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"sampler config file not found: .*missing\.json"):
        load_config(tmp_path / "missing.json")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{\n  "top_k": 3,\n  "top_p": }\n')
    with pytest.raises(ConfigError, match=r"bad\.json is not valid JSON \(line 3, column 12"):
        load_config(bad_json)
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("top_k = 3\ntop_p 0.9\n")
    with pytest.raises(ConfigError, match=r"bad\.toml is not valid TOML: .*line 2"):
        load_config(bad_toml)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("top_k = 3.5\n")
    with pytest.raises(ConfigError, match=r"wrong\.toml: sampler field 'top_k' must be an integer"):
        load_config(wrong)
    with pytest.raises(ConfigError, match=r"must end in \.json or \.toml"):
        load_config(tmp_path / "cfg.yaml")
    with pytest.raises(ConfigError, match=r"must end in \.json or \.toml"):
        save_config(SamplerConfig(), tmp_path / "cfg.yaml")


def test_presets():
    assert get_preset("entropix") == get_preset("entropix-paper") == SamplerConfig()
    assert get_preset("entropix-paper").thresholds == "published"
    assert get_preset("greedy").greedy
    assert not get_preset("no_branch").branching
    assert get_preset("no_think").max_think_insertions == 0
    assert get_preset("frog").gating == "frog"
    assert (get_preset("cot_margin").branch_candidates, get_preset("cot_margin").branch_score) == ("top", "margin")
    assert set(PRESETS) == {"entropix", "entropix-paper", "greedy", "no_branch", "no_think", "frog", "cot_margin"}
    with pytest.raises(ConfigError, match=r"^unknown preset 'hot'; known presets: entropix, entropix-paper, greedy"):
        get_preset("hot")


def test_overriding_a_threshold_marks_the_config_custom_and_a_fit_fitted():
    assert SamplerConfig().with_overrides({"top_k": 5}).thresholds == "published"
    assert SamplerConfig().with_overrides({"low_ent": 0.5}).thresholds == "custom"
    assert SamplerConfig().with_overrides({"low_int": 0.5}).thresholds == "custom"
    assert SamplerConfig().with_fitted({"low_ent": 0.5}).thresholds == "fitted"
    assert SamplerConfig().with_overrides({"low_ent": 0.5, "thresholds": "fitted"}).thresholds == "fitted"


def test_frog_low_thresholds_must_not_exceed_high_ones():
    with pytest.raises(ConfigError, match=r"^low_agree must be <= high_agree, got 0.5 > 0.2$"):
        SamplerConfig(low_agree=0.5, high_agree=0.2)
    with pytest.raises(ConfigError, match=r"'gating' = 'six'; accepted: quadrant, frog"):
        SamplerConfig(gating="six")


def test_config_is_frozen_and_hashable():
    cfg = SamplerConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.top_k = 3
    assert hash(cfg) == hash(SamplerConfig())
