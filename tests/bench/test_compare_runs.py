"""scripts/compare_bench_runs.py: two result folders compared figure by figure (issue 18: "rerunning make bench twice
gives verdicts that agree"). Small hand-made result files, each status reached once."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("compare_bench_runs", ROOT / "scripts" / "compare_bench_runs.py")
compare_runs = importlib.util.module_from_spec(_spec)
sys.modules["compare_bench_runs"] = compare_runs
_spec.loader.exec_module(compare_runs)


def ratio(values, target=None, verdict=None):
    v = sorted(values)
    return {"per_round": values, "median": v[len(v) // 2], "min": v[0], "max": v[-1], "target": target,
            "verdict": verdict}


def write(folder: Path, name: str, figures: dict, load=1.0):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"figures": figures, "load_start": {"load_avg": [load, 0, 0]}}))


@pytest.fixture
def runs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "deconvolve", {"rl_over_skimage_t1": ratio([3.2, 3.5, 3.4], 3.0, "met"),
                            "rl_over_skimage_t2": ratio([3.2, 3.5, 3.4], 3.0, "met"),
                            "rl_over_skimage_3d": ratio([2.9, 3.5, 3.4], 3.0, "undecided"),
                            "speed_over_peer": ratio([1.4, 1.6, 1.5]),
                            "other_speedup": ratio([0.8, 1.3, 1.1]),
                            "care_psnr_minus_peer_db": {"values": [0.4], "median": 0.4, "min": 0.4, "max": 0.4},
                            "drift_max_error_px": {"values": [0.1], "median": 0.1, "min": 0.1, "max": 0.1},
                            "only_in_a": ratio([1.0, 1.0, 1.0])})
    write(b, "deconvolve", {"rl_over_skimage_t1": ratio([3.1, 3.3, 3.6], 3.0, "met"),
                            "rl_over_skimage_t2": ratio([2.1, 2.3, 2.6], 3.0, "missed"),
                            "rl_over_skimage_3d": ratio([3.1, 3.3, 3.6], 3.0, "met"),
                            "speed_over_peer": ratio([0.7, 0.9, 0.8]),
                            "other_speedup": ratio([1.2, 1.3, 1.4]),
                            "care_psnr_minus_peer_db": {"values": [0.2], "median": 0.2, "min": 0.2, "max": 0.2},
                            "drift_max_error_px": {"values": [0.2], "median": 0.2, "min": 0.2, "max": 0.2}})
    write(b, "gpu", {"x_over_y": ratio([1, 1, 1])})  # not a make-bench result: left out
    return a, b


def test_each_status_and_the_counts(runs):
    a, b = runs
    doc = compare_runs.compare(a, b)
    status = {r["key"]: r["status"] for r in doc["rows"]}
    assert status == {"rl_over_skimage_t1": "agree", "rl_over_skimage_t2": "contradict",
                      "rl_over_skimage_3d": "one-sided", "speed_over_peer": "winner changed",
                      "care_psnr_minus_peer_db": "same winner", "drift_max_error_px": "no target",
                      "other_speedup": "winner unclear"}
    assert doc["counts"] == {"agree": 1, "contradict": 1, "one-sided": 1, "winner changed": 1, "same winner": 1,
                             "no target": 1, "winner unclear": 1}
    assert any("only_in_a" in m for m in doc["missing"])
    t2 = next(r for r in doc["rows"] if r["key"] == "rl_over_skimage_t2")
    assert t2["ranges_overlap"] is False and t2["median_change"] == pytest.approx((2.3 - 3.4) / 3.4)


def test_main_writes_json_and_markdown_and_strict_fails_on_contradiction(runs, tmp_path):
    a, b = runs
    assert compare_runs.main([str(a), str(b)]) == 0
    md = (a / "agreement.md").read_text()
    assert "1 agree, 1 one-sided, 1 contradict" in md
    assert md.index("contradict |") < md.index("| agree |")  # contradictions listed first
    assert json.loads((a / "agreement.json").read_text())["counts"]["contradict"] == 1
    assert compare_runs.main([str(a), str(b), "--strict", "--out", str(tmp_path / "x.json")]) == 1


def test_a_missing_folder_says_which_command_makes_it(tmp_path):
    with pytest.raises(SystemExit, match=r"make bench BENCH_RESULTS=.*nope"):
        compare_runs.main([str(tmp_path), str(tmp_path / "nope")])


def test_streaming_targets_are_compared_by_the_harness_rule(tmp_path):
    def doc(ratios, rss):
        return {"targets": {"throughput_ratio": 0.9, "peak_rss_gib": 4.0},
                "in_memory_vs_streamed": {"predict": {"throughput_ratio": ratios[0], "throughput_ratio_per_round": ratios}},
                "streamed": {"predict": {"peak_rss_gib": rss}}}
    for folder, ratios, rss in ((tmp_path / "a", [1.04, 0.95], 1.7), (tmp_path / "b", [0.85, 0.95], 4.2)):
        folder.mkdir()
        (folder / "streaming.json").write_text(json.dumps(doc(ratios, rss)))
    rows = {r["key"]: r for r in compare_runs.compare(tmp_path / "a", tmp_path / "b")["rows"]}
    assert (rows["throughput_ratio_predict"]["verdict_a"], rows["throughput_ratio_predict"]["verdict_b"]) == ("met", "undecided")
    assert rows["throughput_ratio_predict"]["status"] == "one-sided"
    assert rows["peak_rss_gib_predict"]["status"] == "contradict"  # 1.7 GiB met, 4.2 GiB missed (lower is better)
