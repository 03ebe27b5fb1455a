import json
import math
import re
import struct

import pytest

from mlx_entropix.plots import OUTCOME_COLORS, plot_trace
from mlx_entropix.trace import OUTCOMES, Metrics, SamplingParams, TokenRecord, Trace

SCRIPT_TOKEN = "<script>alert(1)</script>"
CONFIG = {"low_ent": 0.1, "med_ent": 3.0, "high_ent": 4.25, "low_vent": 0.15, "high_vent": 5.5, "temperature": 0.666}


def token(i: int) -> TokenRecord:
    outcome = OUTCOMES[i % len(OUTCOMES)]
    h = 0.05 + 6 * (0.5 + 0.5 * math.sin(i * 1.7))
    return TokenRecord(
        index=i,
        id=100 + i,
        text=SCRIPT_TOKEN if i == 7 else f" w{i}",
        outcome=outcome,
        inserted=outcome == "think",
        logprob=-h / 4,
        params=SamplingParams(temperature=0.666 + i / 100, top_p=0.9, top_k=27, min_p=0.03),
        metrics=Metrics(
            entropy=h,
            varentropy=0.02 + 8 * (0.5 + 0.5 * math.cos(i * 0.9)),
            attn_entropy=1.0 + (i % 5) / 2,
            attn_varentropy=(i % 3) / 4,
            attn_head_varentropy=2.0,
            agreement=0.01 / (i + 1),
            interaction_strength=3.0,
        ),
    )


def make_trace(n: int = 36, sampler: dict | None = None) -> Trace:
    return Trace(
        model={"name": "TinyLlama <test>"},
        prompt={"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Is 9.9 > 9.11?"}]},
        sampler={"method": "entropix", "config": CONFIG} if sampler is None else sampler,
        tokens=[token(i) for i in range(n)],
    )


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_png_is_a_real_image_of_sensible_size(tmp_path):
    out = plot_trace(make_trace(), tmp_path / "plot.png")
    assert out == tmp_path / "plot.png"
    data = out.read_bytes()
    width, height = png_size(data)
    assert 1000 <= width <= 2500 and 600 <= height <= 1600
    assert len(data) > 50_000


def test_png_of_an_empty_trace_renders(tmp_path):
    data = plot_trace(make_trace(0), tmp_path / "empty.png").read_bytes()
    assert png_size(data)[0] >= 1000


def html_of(trace: Trace, tmp_path, **kw) -> str:
    return plot_trace(trace, tmp_path / "plot.html", **kw).read_text(encoding="utf-8")


def test_html_has_one_point_per_token_in_each_view(tmp_path):
    page = html_of(make_trace(36), tmp_path)
    assert page.count('class="pt"') == 36
    assert page.count('class="col"') == 36
    assert len(re.findall(r'<span class="tok[ "]', page)) == 36
    assert [int(i) for i in re.findall(r'<circle class="pt" data-i="(\d+)"', page)] == list(range(36))


def test_html_escapes_token_text(tmp_path):
    page = html_of(make_trace(), tmp_path)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert "TinyLlama &lt;test&gt;" in page
    # Exactly the two script elements of the page itself: the data and the code.
    assert page.count("<script") == 2 and page.count("</script>") == 2


def test_html_tooltip_data_round_trips_every_token(tmp_path):
    trace = make_trace()
    page = html_of(trace, tmp_path)
    raw = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', page, re.S).group(1)
    data = json.loads(raw)
    assert [t["text"] for t in data["tokens"]] == [t.text for t in trace.tokens]
    assert data["tokens"][3]["params"]["temperature"] == pytest.approx(0.696)
    assert set(data["tokens"][0]["metrics"]) >= {"entropy", "varentropy", "attn_entropy", "attn_varentropy", "agreement"}


def test_html_has_quadrants_thresholds_units_and_title(tmp_path):
    page = html_of(make_trace(), tmp_path)
    for name in ("Argmax", "Insert thinking token", "Branch", "Resample"):
        assert f">{name}</text>" in page
    for key, value in CONFIG.items():
        if key != "temperature":
            assert f"{key} {value:.3g}</text>" in page
    assert page.count('class="threshold"') == 2 * 5  # drawn on the timeline and on the scatter
    assert "entropy H (nats" in page and "nats²" in page
    assert "1/context length" in page
    assert re.search(r"<title>[^<]*TinyLlama &lt;test&gt;[^<]*Is 9.9 &gt; 9.11\?</title>", page)


def test_explicit_thresholds_replace_the_config(tmp_path):
    page = html_of(make_trace(), tmp_path, thresholds={"low_ent": 0.25})
    assert "low_ent 0.25</text>" in page
    assert "high_ent" not in page
    assert page.count('class="threshold"') == 2


def test_no_threshold_lines_without_a_config(tmp_path):
    page = html_of(make_trace(sampler={"method": "normal"}), tmp_path)
    assert 'class="threshold"' not in page
    assert "Argmax" in page


def test_empty_trace_html_says_no_tokens(tmp_path):
    page = html_of(make_trace(0), tmp_path)
    assert "no tokens" in page
    assert 'class="pt"' not in page


def test_bad_suffix_is_a_one_line_error(tmp_path):
    with pytest.raises(ValueError, match=r"\.png or \.html") as info:
        plot_trace(make_trace(), tmp_path / "plot.svg")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "plot.svg").exists()


def test_unknown_threshold_name_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="high_entropy"):
        plot_trace(make_trace(), tmp_path / "plot.png", thresholds={"high_entropy": 2.0})


def test_unknown_outcome_is_rejected(tmp_path):
    trace = make_trace(3)
    trace.tokens[1].outcome = "mystery"
    with pytest.raises(ValueError, match="token 1: unknown outcome 'mystery'"):
        plot_trace(trace, tmp_path / "plot.html")


def test_outcome_colors_cover_every_outcome_once():
    assert tuple(OUTCOME_COLORS) == OUTCOMES
    assert len(set(OUTCOME_COLORS.values())) == len(OUTCOMES)
