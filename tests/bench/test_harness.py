"""bench/harness.py logic with fake contenders and a fake clock: interleaving, warm-up exclusion,
whole-run timing, per-round ratios with spread, verdicts, the peer units check. No real timing."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_harness", ROOT / "bench" / "harness.py")
harness = importlib.util.module_from_spec(_spec)
sys.modules["bench_harness"] = harness  # dataclasses look their module up while the class is made
_spec.loader.exec_module(harness)


class FakeClock:
    """Time advances only when a fake contender 'works': cost(work) seconds per call."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fake(name, clock, per_unit, setup=0.0, log=None, threads=1):
    """A contender whose run of n units takes setup + per_unit(call index) * n fake seconds."""
    calls = []

    def run(n):
        calls.append(n)
        if log is not None:
            log.append(name)
        clock.now += setup + per_unit(len(calls)) * n
        return len(calls)

    return harness.Contender(name, run, threads=threads), calls


def test_rounds_interleave_and_warmup_is_left_out():
    clock, log = FakeClock(), []
    # First call of each is the warm-up and costs 100x: it must not show in any round.
    a, a_calls = fake("A", clock, lambda i: 100.0 if i == 1 else 2.0, log=log)
    b, b_calls = fake("B", clock, lambda i: 100.0 if i == 1 else 1.0, log=log)
    t = harness.interleave([a, b], work=4, rounds=5, clock=clock, log=None)
    assert log == ["A", "B"] + ["A", "B"] * 5
    assert t.order == ["A", "B"] * 5
    assert a_calls == [4] * 6 and b_calls == [4] * 6
    assert t.per_unit_s == {"A": [2.0] * 5, "B": [1.0] * 5}
    assert t.warmup_s == {"A": 400.0, "B": 400.0}


def test_no_outer_warmup_when_asked():
    clock = FakeClock()
    a, calls = fake("A", clock, lambda i: 1.0)
    t = harness.interleave([a], work=3, rounds=5, warmup_work=0, clock=clock, log=None)
    assert calls == [3] * 5 and t.warmup_s == {}


def test_timing_is_whole_run_over_work_including_setup():
    # A set-up cost is part of a whole run: t_n / n = per_unit + setup / n, never a difference of runs.
    clock = FakeClock()
    a, _ = fake("A", clock, lambda i: 1.0, setup=10.0)
    t = harness.interleave([a], work=5, rounds=3, clock=clock, log=None)
    assert t.per_unit_s["A"] == [3.0, 3.0, 3.0]


def test_own_timing_replaces_wall_clock():
    clock = FakeClock()
    a, _ = fake("A", clock, lambda i: 1.0)
    a.timed = lambda result: 0.5 * result  # e.g. the JVM's own nanoTime: here the call index / 2
    t = harness.interleave([a], work=2, rounds=2, clock=clock, log=None)
    assert t.per_unit_s["A"] == [0.5, 0.75]


def test_ratio_is_per_round_with_spread():
    clock = FakeClock()
    fast = iter([1.0, 1.0, 1.0, 2.0, 1.0, 1.0])  # warm-up, then rounds 1..5
    slow = iter([9.0, 3.0, 4.0, 4.0, 5.0, 6.0])
    a, _ = fake("ours", clock, lambda i: next(fast))
    b, _ = fake("peer", clock, lambda i: next(slow))
    t = harness.interleave([a, b], work=1, rounds=5, clock=clock, log=None)
    r = harness.ratio(t, "ours", "peer", target=2.5)
    assert r["per_round"] == [3.0, 4.0, 2.0, 5.0, 6.0]
    assert (r["median"], r["min"], r["max"]) == (4.0, 2.0, 6.0)
    assert (r["q1"], r["q3"], r["iqr"]) == (3.0, 5.0, 2.0)
    assert r["verdict"] == "undecided"  # round 3 (2.0) is below 2.5 although the median clears it
    assert harness.ratio(t, "ours", "peer", target=2.0)["verdict"] == "met"
    assert harness.ratio(t, "ours", "peer", target=6.5)["verdict"] == "missed"
    assert r["threads"] == {"ours": 1, "peer": 1}


@pytest.mark.parametrize("values,target,higher,expected", [
    ([1.6, 1.7, 1.9], 1.5, True, "met"),
    ([1.4, 1.6], 1.5, True, "undecided"),
    ([0.9, 1.2], 1.5, True, "missed"),
    ([1.5], 1.5, True, "met"),  # on the target counts as met
    ([0.3, 0.35], 0.8, False, "met"),
    ([0.3, 0.9], 0.8, False, "undecided"),
    ([1.0], None, True, None),
])
def test_verdict(values, target, higher, expected):
    assert harness.verdict(values, target, higher_is_better=higher) == expected


def test_peers_are_closed_also_on_error():
    class Peer:
        closed = 0

        def close(self):
            Peer.closed += 1

    clock = FakeClock()
    a, _ = fake("A", clock, lambda i: 1.0)
    harness.interleave([a], work=1, rounds=2, clock=clock, log=None, close=[Peer(), None])
    broken = harness.Contender("B", lambda n: 1 / 0, threads=1)
    with pytest.raises(ZeroDivisionError):
        harness.interleave([broken], work=1, rounds=2, clock=clock, log=None, close=[Peer()])
    assert Peer.closed == 2


def test_bad_arguments():
    clock = FakeClock()
    a, _ = fake("A", clock, lambda i: 1.0)
    with pytest.raises(ValueError, match="rounds and work"):
        harness.interleave([a], work=0, rounds=5, clock=clock, log=None)
    with pytest.raises(ValueError, match="unique"):
        harness.interleave([a, a], work=1, rounds=5, clock=clock, log=None)


def test_peer_below_its_input_fails_with_a_message():
    with pytest.raises(harness.PeerSanityError, match=r"CAREamics 3D: output PSNR 7.46 dB is below its input's 18.00"):
        harness.check_peer_output("CAREamics 3D", np.zeros((2, 4, 4)), output_psnr_db=7.46, input_psnr_db=18.0)
    harness.check_peer_output("ok", np.zeros((2, 4, 4)), output_psnr_db=25.0, input_psnr_db=18.0)


def test_peer_units_and_shape_check():
    raw = np.linspace(100, 1100, 64).reshape(8, 8)  # input in ADU
    with pytest.raises(harness.PeerSanityError, match="not in the units of its input"):
        harness.check_peer_output("peer", raw * 50, reference=raw)  # e.g. a gain applied twice
    harness.check_peer_output("peer", raw * 1.1, reference=raw)
    with pytest.raises(harness.PeerSanityError, match=r"output shape \(64,\) differs"):
        harness.check_peer_output("peer", raw.ravel(), shape=raw.shape)
    with pytest.raises(harness.PeerSanityError, match="non-finite"):
        harness.check_peer_output("peer", np.full((2, 2), np.nan))


def test_bench_writes_json_with_load_and_verdicts(tmp_path):
    bench = harness.Bench("fake", {"rounds": 5}, results=tmp_path)
    bench.add_figure("x_over_y", harness.figure([2.0, 3.0], target=1.5))
    bench.write("# fake\n")
    data = json.loads((tmp_path / "fake.json").read_text())
    assert data["config"] == {"rounds": 5}
    assert data["verdicts"] == {"x_over_y": "met"}
    for key in ("load_start", "load_end"):
        assert len(data[key]["load_avg"]) == 3 and data[key]["nproc"] >= 1
    md = (tmp_path / "fake.md").read_text()
    assert "| `x_over_y` | 2.50 (min–max 2.00–3.00, IQR 2.25–2.75, n 2) | ≥ 1.5 | met |" in md


def test_peer_worker_round_trip(tmp_path):
    # A real child process speaking the line protocol (this interpreter, the harness's serve_requests).
    script = tmp_path / "worker.py"
    script.write_text(
        f"import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('h', {str(ROOT / 'bench' / 'harness.py')!r})\n"
        "h = importlib.util.module_from_spec(spec); sys.modules['h'] = h; spec.loader.exec_module(h)\n"
        "print('chatter that is not json')\n"
        "h.serve_requests(lambda r: {'twice': 2 * r['n']} if r['n'] >= 0 else 1 / 0)\n")
    with harness.PeerWorker([sys.executable, str(script)]) as worker:
        assert worker.call({"n": 21}) == {"twice": 42}
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            worker.call({"n": -1})
        assert worker.call({"n": 1}) == {"twice": 2}
