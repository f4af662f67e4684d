"""Signal quality (Orphanidou et al. 2015's rules) on real ECGs, on noise, and against neurokit2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from signxai import InputError
from signxai.ecg import load_mitbih_208
from signxai.ecg.io import read_record
from signxai.ecg.preprocess import detect_r_peaks, remove_baseline
from signxai.ecg.quality import (
    COLUMNS,
    beat_failures,
    beat_failures_at,
    describe_quality,
    poor_leads,
    signal_quality,
    template_correlation,
)

MUSE = Path(__file__).parent.parent / "data" / "muse" / "sinus_rhythm.xml"


@pytest.fixture(scope="module")
def quality_208() -> pd.DataFrame:
    strip = load_mitbih_208()
    return signal_quality(strip.signal, strip.fs, leads=strip.leads)


def test_record_208_is_an_ecg_whose_bad_windows_are_named(
    quality_208: pd.DataFrame, peaks_208: tuple
) -> None:
    """Record 208 (five minutes, a third of its beats PVCs): 25 of its 30 windows meet all four
    rules. Every window is spiky (kurtosis above Zhao's 5) and its beats alike (correlation above
    0.6, PVCs and all); the window at 210 s holds 4 s in which the signal all but vanishes
    (209.4-213.5 s, amplifier blocking, where neurokit2's detector finds no beat either): it
    fails for its longest RR. The others fail the RR ratio (premature beats and their pauses, and
    shorter stretches of blocking) and at 90 s the correlation."""
    table = quality_208
    assert list(table.columns) == list(COLUMNS) and len(table) == 30
    assert (table.lead == "MLII").all() and table.beats.sum() == 503
    assert table.acceptable.sum() == 25
    assert (table["kurtosis"] > 5).all() and (table.template_correlation > 0.6).all()
    pause = table.set_index("start_s").loc[210.0]
    assert not pause.acceptable and "longest RR: 5.3 s > 3 s" in pause.reasons
    theirs = peaks_208[1] / peaks_208[2]  # neurokit2's peaks, in seconds
    assert not ((theirs > 209.5) & (theirs < 213.5)).any()
    failed = table[~table.acceptable].reasons.str.split("; ").explode().str.split(":").str[0]
    assert set(failed) <= {"RR ratio", "longest RR", "template correlation"}
    assert describe_quality(table) == (
        "lead MLII: 25 of 30 windows of 10 s acceptable (failed: RR ratio 5, longest RR 1, template "
        "correlation 1) by Orphanidou et al. 2015's rules"
    )


def test_leaving_a_rule_out_keeps_what_only_it_failed(quality_208: pd.DataFrame) -> None:
    strip = load_mitbih_208()
    lenient = signal_quality(strip.signal, strip.fs, max_rr_ratio=None, leads=strip.leads)
    only_ratio = quality_208.reasons.str.fullmatch(r"RR ratio: [\d.]+ > 2.2")
    assert only_ratio.sum() == 3
    assert (lenient.acceptable == (quality_208.acceptable | only_ratio)).all()
    assert not lenient.reasons.str.contains("RR ratio").any()
    strict = signal_quality(strip.signal, strip.fs, min_correlation=0.9, leads=strip.leads)
    assert (strict.acceptable == (quality_208.acceptable & (quality_208.template_correlation >= 0.9))).all()
    none = signal_quality(strip.signal, strip.fs, None, None, 10.0, None, None, None, None)
    assert none.acceptable.all()


def test_a_real_12_lead_ecg_is_acceptable_in_every_lead() -> None:
    """The MUSE export's 10 s of sinus rhythm at 500 Hz, eight leads: each beat correlates 0.94
    (V6) to 0.997 with its lead's template."""
    record = read_record(MUSE)
    table = signal_quality(record.signal, record.fs, leads=record.leads)
    assert list(table.lead) == record.leads and table.acceptable.all()
    assert (table.template_correlation > 0.94).all() and (table.beats == 16).all()
    assert table.heart_rate_bpm.between(97, 98).all() and (table["kurtosis"] > 8).all()


@pytest.mark.parametrize("kind", ["white", "brown", "flat", "mains"])
def test_noise_and_a_lead_off_are_not_acceptable_anywhere(kind: str) -> None:
    """Five minutes at 360 Hz of Gaussian noise, its running sum (brown noise), a flat line and a
    50 Hz hum: the detector marks 'beats' in the noises, no window passes. In white noise the
    'beats' correlate below 0.3 with their template, and the kurtosis is that of a Gaussian."""
    rng = np.random.default_rng(0)
    fs, samples = 360.0, 108_000
    signal = {
        "white": rng.normal(size=samples),
        "brown": 0.01 * np.cumsum(rng.normal(size=samples)),
        "flat": np.zeros(samples),
        "mains": 0.2 * np.sin(2 * np.pi * 50 * np.arange(samples) / fs),
    }[kind]
    table = signal_quality(signal, fs)
    assert len(table) == 30 and not table.acceptable.any()
    if kind == "white":
        assert (table.template_correlation < 0.3).all() and table["kurtosis"].between(2.7, 3.3).all()
    if kind == "flat":
        assert (table.beats == 0).all() and table.reasons.str.startswith("beats: 0 in the window").all()
        assert table[["heart_rate_bpm", "template_correlation", "kurtosis"]].isna().all().all()


@pytest.mark.parametrize("rate", [30, 200])
def test_a_rate_outside_40_to_180_bpm_fails_rule_1(rate: int) -> None:
    """neurokit2's ECGSYN at 30 and 200 bpm (500 Hz, no noise; 15 and 99 beats found): the heart
    rate is the only rule failed (194 bpm in the first window at 200, ECGSYN's first RR is 0.57 s)."""
    nk = pytest.importorskip("neurokit2")
    ecg = nk.ecg_simulate(duration=30, sampling_rate=500, heart_rate=rate, method="ecgsyn", random_state=0)
    table = signal_quality(ecg, 500.0)
    assert (table.template_correlation > 0.66).all()
    assert table.reasons.str.fullmatch(r"heart rate: \d+ bpm outside 40-180").all()
    assert (
        table.heart_rate_bpm.between(29, 31).all()
        if rate == 30
        else table.heart_rate_bpm.between(190, 201).all()
    )
    assert signal_quality(ecg, 500.0, heart_rate=None).acceptable.all()
    assert poor_leads(table) == []  # a rhythm rule: no alarm about the signal


def test_the_template_correlation_is_neurokit2s_templatematch(peaks_208: tuple) -> None:
    """neurokit2's ``ecg_quality(method='templatematch')`` (its reading of Orphanidou et al.)
    on the same baseline-removed signal and peaks: per beat equal to 0.002 on the MUSE ECG's
    leads (their beat window is the mean of an interpolated rate, ours the median RR); on record
    208's 10 s windows the window means differ by 0.003 (median; at most 0.06 where premature
    beats make the two windows differ)."""
    nk = pytest.importorskip("neurokit2")

    def theirs(signal: np.ndarray, peaks: np.ndarray, fs: float) -> np.ndarray:
        return nk.ecg_quality(signal, rpeaks=peaks, sampling_rate=int(fs), method="templatematch")[peaks[:-1]]

    record = read_record(MUSE)
    for row in record.signal:
        clean = remove_baseline(row, record.fs)
        peaks = detect_r_peaks(clean, record.fs)
        ours = template_correlation(clean, peaks, record.fs)
        assert np.abs(ours[:-1] - theirs(clean, peaks, record.fs)).max() < 0.002
    ours_208, fs = peaks_208[0], peaks_208[2]
    clean = remove_baseline(load_mitbih_208().signal[0], fs)
    gaps = []
    for start in range(0, 300, 10):
        a, b = int(start * fs), int((start + 10) * fs)
        peaks = ours_208[(ours_208 >= a) & (ours_208 < b)] - a
        mine = template_correlation(clean[a:b], peaks, fs)[:-1]
        gaps.append(abs(np.nanmean(mine) - np.nanmean(theirs(clean[a:b], peaks, fs))))
    assert np.median(gaps) < 0.01 and max(gaps) < 0.08


def test_template_correlation_is_pearsons_r_with_the_mean_beat() -> None:
    rng = np.random.default_rng(1)
    signal = rng.normal(size=(2, 1000))
    peaks = np.array([40, 150, 260, 380, 500, 610, 980])
    r = template_correlation(signal, peaks, 100.0)
    assert r.shape == (2, 7) and np.isnan(r[:, [0, 6]]).all()  # the median RR is 115: half 57
    beats = signal[1][peaks[1:6, None] + np.arange(-57, 57)]
    template = beats.mean(axis=0)
    expected = [np.corrcoef(beat, template)[0, 1] for beat in beats]
    np.testing.assert_allclose(r[1, 1:6], expected, rtol=1e-12)
    np.testing.assert_allclose(template_correlation(signal[1], peaks, 100.0), r[1])
    flat = np.zeros(1000)
    flat[500:505] = 1.0  # one beat has a bump, the rest are flat: they correlate 0
    assert (template_correlation(flat, peaks, 100.0)[[1, 2, 3, 5]] == 0).all()


def test_windows_rr_intervals_and_given_peaks() -> None:
    """25 s in 10 s windows: 0-10 and 10-25 (the last takes the rest); 4 s is one window. The RR
    intervals of a window are those that end in it (its first from the beat before it); given
    peaks are used as given (one left out: a 2 s RR)."""
    strip = load_mitbih_208()
    fs, lead = strip.fs, strip.signal[0][: int(25 * strip.fs)]
    table = signal_quality(lead, fs)
    assert list(zip(table.start_s, table.stop_s, strict=True)) == [(0.0, 10.0), (10.0, 25.0)]
    assert len(signal_quality(lead[: int(4 * fs)], fs)) == 1
    peaks = detect_r_peaks(remove_baseline(lead, fs), fs)
    second = peaks[(peaks >= 10 * fs)]
    rr = np.diff(peaks[np.searchsorted(peaks, 10 * fs) - 1 :]) / fs
    assert table.beats.tolist() == [len(peaks) - len(second), len(second)]
    np.testing.assert_allclose(table.max_rr_s[1], rr.max())
    np.testing.assert_allclose(table.heart_rate_bpm[1], 60 / rr.mean())
    gap = np.delete(peaks, 5)
    given = signal_quality(lead, fs, r_peaks=gap)
    assert given.max_rr_s[0] > table.max_rr_s[0] + 0.4 and given.beats[0] == table.beats[0] - 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fs": 0}, "fs"),
        ({"window": 0}, "window must be a positive number of seconds"),
        ({"window": 1e-4}, "window must be at least one sample"),
        ({"min_correlation": -1}, "min_correlation must be a positive number"),
        ({"max_rr": "3"}, "max_rr must be a positive number"),
        ({"max_rr_ratio": np.nan}, "max_rr_ratio must be a positive number"),
        ({"heart_rate": 40}, r"heart_rate must be \(lowest, highest\)"),
        ({"heart_rate": (180, 40)}, "heart_rate's highest must be a number of bpm > 180"),
        ({"leads": ["a", "b"]}, "leads"),
        ({"r_peaks": [5, 3]}, "r_peaks"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    arguments = {"ecg": np.sin(np.arange(3600) / 20), "fs": 360.0, **kwargs}
    with pytest.raises(InputError, match=message):
        signal_quality(**arguments)


def test_bad_input_to_the_helpers_is_named() -> None:
    with pytest.raises(InputError, match="at least 2 R-peaks"):
        template_correlation(np.zeros(100), [50], 100.0)
    with pytest.raises(InputError, match="ecg"):
        template_correlation(np.zeros((2, 3, 100)), [10, 50], 100.0)
    with pytest.raises(InputError, match="signal_quality's table"):
        describe_quality(pd.DataFrame({"lead": ["x"]}))


def test_poor_leads_are_those_whose_beats_cannot_be_trusted() -> None:
    """A lead is poor where fewer than half of its windows pass the rules on the beats themselves
    (two or more, alike): record 208's 40-70 s fail the RR ratio in two of three windows
    (premature beats and their pauses) and are not poor; a lead of noise beside them is."""
    strip = load_mitbih_208()
    first = strip.signal[0, int(40 * strip.fs) : int(70 * strip.fs)]
    noise = np.random.default_rng(0).normal(size=first.shape)
    table = signal_quality(np.stack([first, noise]), strip.fs, leads=["MLII", "noise"])
    assert table.groupby("lead", sort=False).acceptable.sum().tolist() == [1, 0]
    assert poor_leads(table) == ["noise"]
    assert poor_leads(table[table.lead == "MLII"]) == []
    assert beat_failures(table.reasons[3]) == [table.reasons[3].split("; ")[-1]]  # noise: correlation
    assert (
        beat_failures("RR ratio: 3.4 > 2.2; longest RR: 5.3 s > 3 s; heart rate: 200 bpm outside 40-180")
        == []
    )
    assert beat_failures("beats: 0 in the window; heart rate: no RR interval") == ["beats: 0 in the window"]


def test_a_value_is_shown_with_the_digits_that_tell_it_from_its_limit() -> None:
    """Record 208's window at 20 s has an RR ratio of 2.348: against a limit of 2.3 it reads
    '2.35 > 2.3' (with one decimal it would read '2.3 > 2.3')."""
    strip = load_mitbih_208()
    first = strip.signal[0, : int(30 * strip.fs)]
    default = signal_quality(first, strip.fs)
    ratio = default.rr_ratio[2]
    assert round(ratio, 1) == 2.3 and round(ratio, 2) == 2.35
    table = signal_quality(first, strip.fs, max_rr_ratio=2.3)
    assert table.reasons[2] == "RR ratio: 2.35 > 2.3"
    assert default.reasons[2] == "RR ratio: 2.3 > 2.2"  # one decimal tells it from 2.2


def test_added_noise_is_judged_by_degrees() -> None:
    """Record 208 with Gaussian noise added (its R waves are about 1-1.5 mV): at 0.05 mV SD most
    windows still pass; at 0.3 mV the detector adds some 50 beats and the lead is poor; at 0.5 mV
    (245-287 beats more than its 503) no window passes. Measured (three draws each): 23-24, 1-4, 0 of 30."""
    strip = load_mitbih_208()
    rng = np.random.default_rng(0)
    judged = {
        sd: signal_quality(strip.signal[0] + sd * rng.normal(size=108_000), strip.fs)
        for sd in (0.05, 0.3, 0.5)
    }
    assert judged[0.05].acceptable.sum() >= 22 and poor_leads(judged[0.05]) == []
    assert judged[0.3].acceptable.sum() <= 6 and poor_leads(judged[0.3]) == ["lead0"]
    assert judged[0.3].beats.sum() > 530 and judged[0.5].beats.sum() > 700
    assert not judged[0.5].acceptable.any() and (judged[0.5].template_correlation < 0.5).all()


def test_beat_failures_at_gives_each_time_the_beat_rules_its_window_fails(quality_208: pd.DataFrame) -> None:
    """Record 208: 90-100 s fails the template correlation (and the RR ratio, a rhythm rule, left
    out); 20-30 s only the RR ratio; the last window holds its own end; a time past the lead's
    end has no window."""
    found = beat_failures_at(quality_208, [95.0, 25.0, 0.0, 89.999, 100.0, 300.0, 301.0])
    assert found[0] == ["template correlation: 0.60 < 0.66"]
    assert found[1:] == [[], [], [], [], [], []]
    assert beat_failures_at(quality_208, np.array([])) == []
    assert beat_failures_at(quality_208.iloc[:0], [5.0]) == [[]]
    two = pd.concat([quality_208, quality_208.assign(lead="V1")])
    with pytest.raises(
        InputError, match=r"quality must be the table of one lead, got the leads \['MLII', 'V1'\]"
    ):
        beat_failures_at(two, [1.0])
