"""The strip analysis behind the demo and the CLI report: reproducible with random methods."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from signxai import InputError, SignXAIError
from signxai.ecg.analysis import analyze_strip
from signxai.ecg.datasets import load_mitbih_208
from signxai.ecg.models import ECG5000_CLASSES, load_beat_model
from signxai.ecg.preprocess import detect_r_peaks, remove_baseline


def test_methods_with_random_draws_are_seeded_so_a_report_reproduces() -> None:
    strip = load_mitbih_208()
    short = dataclasses.replace(strip, signal=strip.signal[:, : int(20 * strip.fs)])
    model = load_beat_model("5class")
    methods = ["gradient_shap_samples_4", "smoothgrad_samples_4"]
    runs = [
        analyze_strip(short, model, ECG5000_CLASSES, methods, max_abnormal=2, max_normal=1, seed=seed)
        for seed in (0, 0, 1)
    ]
    for method in methods:
        np.testing.assert_array_equal(runs[0].relevance[method], runs[1].relevance[method])
        assert not np.array_equal(runs[0].relevance[method], runs[2].relevance[method])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"methods": []}, r"methods must be a non-empty list of method names, got \[\]"),
        ({"methods": "gradient"}, "methods must be a non-empty list"),
        ({"lead": 1}, "lead must be a lead index from 0 to 0, got 1"),
        ({"max_abnormal": -1}, "max_abnormal must be a whole number >= 0, got -1"),
        ({"max_normal": 1.5}, "max_normal must be a whole number >= 0, got 1.5"),
        ({"max_abnormal": 0, "max_normal": 0}, "max_abnormal and max_normal are both 0: no beat to explain"),
        ({"spectral_method": "grad_cam"}, "has no relevance per spectral coefficient"),
        ({"spectral_method": "lrpz_epsilom_0_5"}, "lrpz_epsilon_0_5"),
        ({"spectral_method": 3}, "spectral_method must be a method name or None, got 3"),
        (
            {"versus": "runnerup"},
            "versus must be a class index or 'runner_up'; got 'runnerup' \\(did you mean",
        ),
        ({"versus": 5}, "versus must be a class index from 0 to 4 or 'runner_up', got 5"),
        ({"versus": 1.0}, "versus must be a class index, 'runner_up' or None, got 1.0"),
    ],
)
def test_what_to_explain_is_checked_first(kwargs: dict, match: str) -> None:
    strip = load_mitbih_208()
    with pytest.raises(SignXAIError, match=match):  # InputError, or the method's own error
        analyze_strip(
            strip, load_beat_model("5class"), ECG5000_CLASSES, **{"methods": ["gradient"], **kwargs}
        )


def test_a_rate_too_low_to_delineate_is_named_before_any_work(monkeypatch) -> None:
    """At 60 Hz the delineation cannot run; the error came after every beat was classified and
    explained, now first, with detected and with given R-peaks."""
    from signxai.ecg import analysis as module

    strip = load_mitbih_208()
    slow = dataclasses.replace(strip, signal=strip.signal[:, ::6][:, :1800].copy(), fs=60.0)
    monkeypatch.setattr(module, "classify", lambda *args: pytest.fail("classified before the check"))
    for peaks in (None, np.arange(30, 1800, 60)):
        with pytest.raises(
            InputError, match="fs must exceed 80 Hz for the delineation of its waves, got 60 Hz"
        ):
            analyze_strip(slow, load_beat_model("binary"), ["normal", "abnormal"], r_peaks=peaks)


def test_given_r_peaks_are_used_instead_of_the_detector(tmp_path) -> None:
    """After a drop to a tenth of the amplitude the detector misses beats at its edge; the
    peaks detected before the drop (a reference annotation's role) give every beat back, and
    the detector's own peaks, given, reproduce the default analysis."""
    strip = load_mitbih_208()
    fs = strip.fs
    short = dataclasses.replace(strip, signal=strip.signal[:, : int(40 * fs)].copy())
    model = load_beat_model("5class")
    kwargs = {"methods": ["gradient"], "max_abnormal": 2, "max_normal": 1}
    detected = analyze_strip(short, model, ECG5000_CLASSES, **kwargs)
    assert not detected.peaks_given
    reference = detect_r_peaks(remove_baseline(short.signal[0], fs), fs)
    again = analyze_strip(short, model, ECG5000_CLASSES, r_peaks=reference, **kwargs)
    assert again.peaks_given and again.labels == detected.labels
    np.testing.assert_array_equal(again.relevance["gradient"], detected.relevance["gradient"])
    assert detected.detection is None  # the detector's peaks are scored only against given ones
    assert again.detection is not None and again.detection.sensitivity == 1.0
    assert again.detection.positive_predictivity == 1.0 and not again.detection.offsets.any()
    dropped = dataclasses.replace(short, signal=short.signal.copy())
    dropped.signal[:, int(10 * fs) : int(30 * fs)] *= 0.1
    missed = analyze_strip(dropped, model, ECG5000_CLASSES, **kwargs)
    given = analyze_strip(dropped, model, ECG5000_CLASSES, r_peaks=reference, **kwargs)
    assert len(missed.labels) < len(reference) - 3
    assert len(given.labels) == len(reference) - 1  # one beat between each two peaks
    np.testing.assert_array_equal(given.windows.r_peaks, reference[:-1])
    from signxai.ecg import model_card
    from signxai.ecg.report import strip_report

    # the detector on the dropped strip, scored against the peaks given: the beats it missed
    score = given.detection
    assert score is not None and score.false_negatives >= 4
    np.testing.assert_array_equal(score.detected, detect_r_peaks(remove_baseline(dropped.signal[0], fs), fs))
    assert len(score.detected) == len(missed.labels) + 1
    assert np.all((score.reference[score.missed] > 10 * fs) & (score.reference[score.missed] < 30 * fs))
    page = strip_report(given, model_card(), "5class", tmp_path / "given.html").read_text()
    assert f"{len(given.labels)} beats cut at the R-peaks given and classified" in page
    assert 'id="peaks"' in page and score.summary().replace("'", "&#x27;") in page
    first = score.reference[score.missed[0]] / fs
    assert f"Missed beats at {first:.1f}, " in page
    page = strip_report(missed, model_card(), "5class", tmp_path / "missed.html").read_text()
    assert f"{len(missed.labels)} beats detected and classified" in page and 'id="peaks"' not in page
    with pytest.raises(InputError, match="r_peaks must lie inside the signal's 14400 samples"):
        analyze_strip(short, model, ECG5000_CLASSES, r_peaks=[10, 20_000], **kwargs)
    with pytest.raises(InputError, match="r_peaks must be strictly increasing"):
        analyze_strip(short, model, ECG5000_CLASSES, r_peaks=reference[::-1], **kwargs)


def test_reference_beat_codes_go_with_their_beats_and_into_the_report(tmp_path) -> None:
    """Each beat carries the code of the R-peak it starts at; the report counts the calls per
    AAMI class and the agreement on normal; bad codes are named before any work."""
    from signxai.ecg import model_card
    from signxai.ecg.beats import AAMI_CLASSES, BEAT_SYMBOLS
    from signxai.ecg.report import strip_report
    from signxai.ecg.scoring import aami_scores

    assert set(AAMI_CLASSES) == BEAT_SYMBOLS
    strip = load_mitbih_208()
    fs = strip.fs
    short = dataclasses.replace(strip, signal=strip.signal[:, : int(30 * fs)])
    detected = detect_r_peaks(remove_baseline(short.signal[0], fs), fs)
    # one made-up beat between two real ones, coded 'A': the detector misses it
    peaks = np.insert(detected, 5, (detected[4] + detected[5]) // 2)
    codes = ["V" if k % 3 == 0 else "L" if k % 3 == 1 else "N" for k in range(len(peaks))]
    codes[5] = "A"
    model = load_beat_model("binary")
    kwargs = {"methods": ["gradient"], "max_abnormal": 1, "max_normal": 1}
    analysis = analyze_strip(
        short, model, ["normal", "abnormal"], r_peaks=peaks, beat_symbols=codes, **kwargs
    )
    assert analysis.reference is not None and len(analysis.reference) == len(analysis.labels)
    starts = np.searchsorted(peaks, analysis.windows.r_peaks)
    assert analysis.reference == [codes[i] for i in starts]
    table = analysis.wave_table
    assert (table["reference"] == [analysis.reference[beat] for beat in table["beat"]]).all()
    page = strip_report(analysis, model_card(), "binary", tmp_path / "report.html").read_text()
    agree = sum(
        (code in "NL") == (label == "normal")  # AAMI N: N and L here; V and A are not
        for code, label in zip(analysis.reference, analysis.labels, strict=True)
    )
    assert f"{agree} of {len(analysis.labels)} beats" in page
    for code in set(analysis.reference):  # the codes behind each class, counted over the beats
        assert f"{code} {analysis.reference.count(code)}" in page
    assert "<th>V</th>" in page and 'id="reference"' in page
    assert analysis.detection is not None and list(analysis.detection.missed) == [5]
    assert f"Missed beats at {peaks[5] / fs:.1f} s (reference codes: A 1)." in page
    assert "Per AAMI class, as ANSI/AAMI EC57" not in page  # 'abnormal' is no one AAMI class
    five = analyze_strip(
        short, load_beat_model("5class"), ECG5000_CLASSES, r_peaks=peaks, beat_symbols=codes, **kwargs
    )
    page = strip_report(five, model_card(), "5class", tmp_path / "five.html").read_text()
    scores = aami_scores(five.reference, five.labels)
    assert scores.loc["N", "reference"] == sum(code in "NL" for code in five.reference)
    assert "Per AAMI class, as ANSI/AAMI EC57" in page
    for group, row in scores.iterrows():
        cells = [int(row["reference"]), int(row["called"]), int(row["agreed"])]
        cells += ["-" if np.isnan(row[key]) else f"{100 * row[key]:.1f}" for key in ("Se", "+P")]
        assert f"<th>{group}</th>" + "".join(f"\n      <td>{cell}</td>" for cell in cells) in page
    plain = analyze_strip(short, model, ["normal", "abnormal"], r_peaks=peaks, **kwargs)
    assert plain.reference is None and "reference" not in plain.wave_table
    assert (
        'id="reference"' not in strip_report(plain, model_card(), "binary", tmp_path / "p.html").read_text()
    )
    for bad, match in (
        ({"beat_symbols": codes}, "beat_symbols needs r_peaks"),
        (
            {"r_peaks": peaks, "beat_symbols": codes[:-1]},
            f"beat_symbols has {len(peaks) - 1} codes for {len(peaks)}",
        ),
        (
            {"r_peaks": peaks, "beat_symbols": ["+"] * len(peaks)},
            r"codes that mark no beat in WFDB: \['\+'\]",
        ),
        (
            {"r_peaks": peaks, "beat_symbols": "N" * len(peaks)},
            "beat_symbols must be a list of WFDB beat codes",
        ),
    ):
        with pytest.raises(InputError, match=match):
            analyze_strip(short, model, ["normal", "abnormal"], **bad, **kwargs)


@pytest.mark.parametrize("versus", [None, "runner_up"])
def test_every_beats_spectrum_is_computed_in_parts_as_in_one_call(monkeypatch, versus) -> None:
    """The spectrum of every beat runs in parts of SPECTRUM_BEATS beats (an hour's 6023 beats in
    one call took 1.1 GB): the parts joined are the maps of one call, also for contrasts."""
    from signxai import Contrast, explain_spectrum
    from signxai.ecg import analysis as module

    monkeypatch.setattr(module, "SPECTRUM_BEATS", 16)
    strip = load_mitbih_208()
    short = dataclasses.replace(strip, signal=strip.signal[:, : int(40 * strip.fs)])
    model = load_beat_model("5class")
    result = analyze_strip(short, model, ECG5000_CLASSES, ["gradient"], max_abnormal=1, max_normal=1,
                           spectral_method="lrpz_epsilon_0_5", versus=versus)  # fmt: skip
    beats, predicted = result.windows.beats, result.predicted.tolist()
    assert len(beats) > 2 * 16
    target = predicted if versus is None else Contrast(predicted, result.versus.tolist())
    whole = explain_spectrum(model, beats, "lrpz_epsilon_0_5", target)
    assert result.spectrum is not None
    for name in ("relevance", "parts", "amplitude"):
        np.testing.assert_allclose(getattr(result.spectrum, name), getattr(whole, name), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result.spectrum.frequencies, whole.frequencies)


def test_a_long_recordings_report_draws_the_rows_with_explained_beats(tmp_path) -> None:
    """Ten minutes (record 208 twice) are 20 rows of 30 s: only those holding an explained beat
    are drawn, and the report says so; the demo's five minutes keep all ten rows."""
    from signxai.ecg import model_card
    from signxai.ecg.report import MAX_STRIP_ROWS, strip_report

    strip = load_mitbih_208()
    twice = dataclasses.replace(strip, signal=np.tile(strip.signal, (1, 2)))
    kwargs = {"methods": ["gradient"], "max_abnormal": 2, "max_normal": 1}
    analysis = analyze_strip(twice, load_beat_model("binary"), ["normal", "abnormal"], **kwargs)
    rows = sorted({int(analysis.windows.r_peaks[i] // (30 * 360)) for i in analysis.explained})
    page = strip_report(analysis, model_card(), "binary", tmp_path / "long.html").read_text()
    assert f"The recording has 20 rows of 30 s; the {len(rows)} that hold an explained beat are drawn" in page
    assert _strip_figures(page) == len(rows) and MAX_STRIP_ROWS == 10
    short = analyze_strip(strip, load_beat_model("binary"), ["normal", "abnormal"], **kwargs)
    page = strip_report(short, model_card(), "binary", tmp_path / "five.html").read_text()
    assert "rows of 30 s; the" not in page and _strip_figures(page) == 10


def _strip_figures(page: str) -> int:
    """The figures in the report's strip section."""
    section = page[page.index('<section id="strip">') :]
    return section[: section.index("</section>")].count("data:image/png;base64,")


def test_the_analysed_lead_is_named_in_the_table_and_the_report(tmp_path) -> None:
    """A two-lead recording without lead names, analysed on its second row: the table and the
    report name 'lead1' (an unnamed recording raised an IndexError; the report named the first
    lead whichever was analysed), and the maps are those of that row alone."""
    from signxai.ecg import Recording, model_card
    from signxai.ecg.report import strip_report

    strip = load_mitbih_208()
    row = strip.signal[0, : int(20 * strip.fs)]
    two = Recording(
        signal=np.vstack([np.zeros_like(row) + 0.1 * np.sin(np.arange(len(row))), row]), fs=strip.fs
    )
    model = load_beat_model("5class")
    arguments = {"methods": ["gradient"], "max_abnormal": 2, "max_normal": 1}
    analysis = analyze_strip(two, model, ECG5000_CLASSES, lead=1, **arguments)
    alone = analyze_strip(Recording(signal=row[None], fs=strip.fs), model, ECG5000_CLASSES, **arguments)
    assert analysis.lead == 1 and analysis.lead_name == "lead1"
    assert set(analysis.wave_table["lead"]) == {"lead1"}
    np.testing.assert_array_equal(analysis.relevance["gradient"], alone.relevance["gradient"])
    page = strip_report(analysis, model_card(), "5class", tmp_path / "report.html").read_text()
    assert "The recording, lead: lead1, 360 Hz" in page


def test_normal_beats_get_alpha_beta_maps_and_a_zero_map_keeps_its_row_in_the_report(tmp_path) -> None:
    """The binary model's normal beats explain -z: LRP-alpha1-beta0 gave them all-zero maps (minus
    the map of z, which has no positive contribution there); a beat whose map is zero (Grad-CAM,
    rectified) has no wave shares, and its row stays in the report's per-beat table ('-'), where
    a pivot table dropped it."""
    from signxai.ecg import model_card
    from signxai.ecg.report import _shares_per_beat, strip_report

    strip = load_mitbih_208()
    short = dataclasses.replace(strip, signal=strip.signal[:, : int(30 * strip.fs)])
    methods = ["lrp_alpha_1_beta_0", "grad_cam"]
    analysis = analyze_strip(
        short, load_beat_model("binary"), ["normal", "abnormal"], methods, max_abnormal=1, max_normal=2
    )
    labels = analysis.wave_table.drop_duplicates("beat").set_index("beat")["label"]
    maps = analysis.relevance["lrp_alpha_1_beta_0"]
    normal = [k for k, beat in enumerate(analysis.explained) if labels[beat] == "normal"]
    assert len(normal) == 2
    assert all(np.abs(maps[k]).max() > 0 for k in normal)

    table = analysis.wave_table.copy()
    zeroed = (table.method == "grad_cam") & (table.beat == analysis.explained[0])
    table.loc[zeroed, "share"] = np.nan  # what wave_relevance gives an all-zero map
    shares = _shares_per_beat(table)
    assert len(shares) == len(methods) * len(analysis.explained)
    assert shares.loc[("grad_cam", analysis.explained[0])].isna().all(axis=None)
    assert list(shares.columns) == ["P", "QRS", "T", "other"]
    page = strip_report(
        dataclasses.replace(analysis, wave_table=table), model_card(), "binary", tmp_path / "report.html"
    ).read_text()
    assert page.count("<td>-</td>") >= 4


def test_relevance_per_harmonic_of_every_beat_and_its_report_section(tmp_path) -> None:
    """With ``spectral_method``, every beat (not only the explained ones) is explained per
    harmonic for its predicted class, as ``explain_spectrum`` does on the beat windows; the band
    shares sum to 1 per class; the report gains the section, and has none without it."""
    from signxai import explain_spectrum
    from signxai.ecg import model_card
    from signxai.ecg.analysis import harmonic_shares
    from signxai.ecg.report import strip_report

    strip = load_mitbih_208()
    short = dataclasses.replace(strip, signal=strip.signal[:, : int(30 * strip.fs)])
    model = load_beat_model("binary")
    arguments = {"methods": ["gradient"], "max_abnormal": 1, "max_normal": 1}
    analysis = analyze_strip(
        short, model, ["normal", "abnormal"], spectral_method="lrpz_epsilon_0_5", **arguments
    )
    assert analysis.spectrum is not None
    beats = analysis.windows.beats
    assert analysis.spectrum.relevance.shape == (len(beats), 1, 71)
    direct = explain_spectrum(model, beats, "lrpz_epsilon_0_5", target_class=analysis.predicted.tolist())
    np.testing.assert_allclose(analysis.spectrum.relevance, direct.relevance, rtol=1e-5, atol=1e-7)
    shares = harmonic_shares(analysis.spectrum, analysis.labels)
    assert set(shares.index) == set(analysis.labels)
    assert shares["beats"].sum() == len(beats)
    np.testing.assert_allclose(shares.drop(columns="beats").sum(axis=1), 1.0, rtol=1e-4)
    # the band-stop deletion curves of every beat, ranked by the spectrum and at random
    from signxai.evaluate import spectral_deletion_curve

    curves = analysis.spectral_faithfulness
    assert set(curves) == {"lrpz_epsilon_0_5", "random"} and set(curves["random"]) == {"morf", "lerf"}
    again = spectral_deletion_curve(model, beats, direct, analysis.predicted.tolist(), bins=5, order="lerf")
    np.testing.assert_allclose(curves["lrpz_epsilon_0_5"]["lerf"].scores, again.scores, rtol=1e-5, atol=1e-6)
    assert curves["lrpz_epsilon_0_5"]["morf"].scores.shape == (len(beats), 16)
    page = strip_report(analysis, model_card(), "binary", tmp_path / "report.html").read_text()
    assert 'id="spectrum"' in page and "Relevance per harmonic" in page
    assert "spectral_deletion_curve" in page and "with the z-rule (DFT-LRP)" in page
    assert f"{curves['lrpz_epsilon_0_5']['morf'].aopc:.3f}" in page
    plain = analyze_strip(short, model, ["normal", "abnormal"], **arguments)
    assert plain.spectrum is None and plain.spectral_faithfulness == {}
    assert (
        'id="spectrum"'
        not in strip_report(plain, model_card(), "binary", tmp_path / "plain.html").read_text()
    )
    with pytest.raises(InputError, match="labels"):
        harmonic_shares(analysis.spectrum, analysis.labels[:-1])
    with pytest.raises(InputError, match="explained beats"):
        harmonic_shares(explain_spectrum(model, beats[0], "gradient"), ["normal"])


def test_lead_band_shares_per_lead_and_for_all_leads() -> None:
    import torch
    from torch import nn

    from signxai import MethodParameterError, explain_spectrum
    from signxai.ecg.analysis import ECG_BANDS, lead_band_shares

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(2, 3, 9), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 92, 2)).eval()
    x = torch.randn(4, 2, 100)
    result = explain_spectrum(model, x, "lrpz_epsilon_0_1", target_class=1, fs=100.0)  # 1 Hz bins to 50 Hz
    shares = lead_band_shares(result, ["II", "V1"])
    assert list(shares.index) == ["II", "V1", "all leads"]
    assert list(shares.columns) == ["relevance", *ECG_BANDS]
    per_lead = result.relevance.sum(axis=0)
    f = result.frequencies
    qrs = per_lead[:, (f >= 10) & (f < 40)].sum(axis=1)
    np.testing.assert_allclose(shares.loc[["II", "V1"], "relevance"], per_lead.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(
        shares.loc[["II", "V1"], "10-40 Hz (QRS)"], qrs / per_lead.sum(axis=1), rtol=1e-5
    )
    np.testing.assert_allclose(
        shares.loc["all leads", "10-40 Hz (QRS)"], qrs.sum() / per_lead.sum(), rtol=1e-5
    )
    np.testing.assert_allclose(
        shares[list(ECG_BANDS)].sum(axis=1), 1.0, rtol=1e-4
    )  # the bands cover every bin
    assert shares.attrs["empty"] == []
    slow = explain_spectrum(model, x, "lrpz_epsilon_0_1", target_class=1, fs=60.0)  # Nyquist 30 Hz
    assert lead_band_shares(slow, ["II", "V1"]).attrs["empty"] == [">40 Hz (noise, mains)"]
    blind = nn.Sequential(nn.Flatten(), nn.Linear(200, 2)).eval()
    with torch.no_grad():
        blind[1].weight[:, 100:] = 0  # V1 unread: its relevance is 0, its shares undefined
    unread = lead_band_shares(explain_spectrum(blind, x, "gradient_x_input", fs=100.0), ["II", "V1"])
    assert unread.loc["V1", "relevance"] == 0 and unread.loc["V1", list(ECG_BANDS)].isna().all()
    with pytest.raises(InputError, match="with fs="):
        lead_band_shares(explain_spectrum(model, x, "gradient", target_class=1), ["II", "V1"])
    with pytest.raises(InputError, match="leads has 1 entries for 2 channels"):
        lead_band_shares(result, ["II"])
    unnamed = lead_band_shares(result)  # before: a TypeError without leads
    assert list(unnamed.index) == ["lead0", "lead1", "all leads"]
    np.testing.assert_array_equal(unnamed.to_numpy(), shares.to_numpy())
    with pytest.raises(InputError, match="result must be what signxai.explain_spectrum returns"):
        lead_band_shares(result.relevance, ["II", "V1"])  # type: ignore[arg-type]
    with pytest.raises(MethodParameterError, match=r"edges\['bad'\] must be \(low, high\)"):
        lead_band_shares(result, ["II", "V1"], {"bad": 5})  # type: ignore[dict-item]


def test_beats_explained_against_another_class(tmp_path) -> None:
    """``versus``: every map, deletion curve and spectrum explains the margin of the predicted
    class over the runner-up (or a given class; its own beats against their runner-up)."""
    from signxai import Contrast, explain, explain_spectrum
    from signxai.ecg import model_card
    from signxai.ecg.report import strip_report
    from signxai.evaluate import deletion_curve

    strip = load_mitbih_208()
    short = dataclasses.replace(strip, signal=strip.signal[:, : int(60 * strip.fs)])
    model = load_beat_model("5class")
    methods = ["lrpsign_epsilon_0_5", "integrated_gradients"]
    kwargs = {"max_abnormal": 3, "max_normal": 2, "spectral_method": "lrpz_epsilon_0_5"}
    result = analyze_strip(short, model, ECG5000_CLASSES, methods, versus="runner_up", **kwargs)
    ranked = np.argsort(-result.probabilities, axis=1)
    np.testing.assert_array_equal(result.versus, ranked[:, 1])
    beats = result.windows.beats[result.explained]
    contrast = Contrast(result.predicted[result.explained].tolist(), ranked[result.explained, 1].tolist())
    for method in methods:
        np.testing.assert_allclose(
            result.relevance[method],
            explain(model, beats, method, target_class=contrast),
            rtol=1e-5,
            atol=1e-7,
        )
    curve = deletion_curve(model, beats, result.relevance[methods[0]], contrast, window=10)
    np.testing.assert_allclose(result.faithfulness[methods[0]]["morf"].scores, curve.scores, rtol=1e-6)
    assert (curve.scores[:, 0] > 0).all()  # the margin of the predicted class over the runner-up
    every = Contrast(result.predicted.tolist(), ranked[:, 1].tolist())
    spectrum = explain_spectrum(model, result.windows.beats, "lrpz_epsilon_0_5", every)
    assert result.spectrum is not None
    np.testing.assert_allclose(result.spectrum.relevance, spectrum.relevance, rtol=1e-4, atol=1e-7)
    plain = analyze_strip(short, model, ECG5000_CLASSES, methods, **kwargs)
    assert plain.versus is None and not np.allclose(plain.relevance[methods[0]], result.relevance[methods[0]])
    page = strip_report(result, model_card(), "5class", tmp_path / "report.html").read_text()
    first = int(result.explained[0])
    assert f"explained against {ECG5000_CLASSES[ranked[first, 1]]}" in page
    assert "against another class, named in each beat" in page
    normal = analyze_strip(short, model, ECG5000_CLASSES, methods[:1], versus=0, max_abnormal=3, max_normal=2)
    assert normal.versus is not None
    expected = np.where(normal.predicted == 0, ranked[:, 1], 0)
    np.testing.assert_array_equal(normal.versus, expected)
    with pytest.raises(InputError, match="versus needs a model with two or more outputs"):
        analyze_strip(short, load_beat_model("binary"), ("normal", "abnormal"), methods, versus="runner_up")


def test_each_classified_beat_gets_its_intervals_and_the_report_their_medians(tmp_path) -> None:
    """``interval_table`` row k is the beat cut at ``windows.r_peaks[k]``: its delineation, done
    here again on the same lead, gives the same durations; the report shows the medians per call
    and per reference code."""
    from signxai.ecg import model_card
    from signxai.ecg.report import strip_report
    from signxai.ecg.waves import delineate

    strip = load_mitbih_208()
    fs = strip.fs
    short = dataclasses.replace(strip, signal=strip.signal[:, : int(30 * fs)])
    peaks = detect_r_peaks(remove_baseline(short.signal[0], fs), fs)
    codes = ["V" if k % 4 == 0 else "N" for k in range(len(peaks))]
    analysis = analyze_strip(
        short,
        load_beat_model("binary"),
        ["normal", "abnormal"],
        ["gradient"],
        max_abnormal=1,
        max_normal=1,
        r_peaks=peaks,
        beat_symbols=codes,
    )
    table = analysis.interval_table()
    assert len(table) == len(analysis.labels) < len(peaks)  # the last beat has no window
    assert table.label.tolist() == analysis.labels and table.reference.tolist() == analysis.reference
    waves = delineate(remove_baseline(short.signal[0], fs), peaks, fs).set_index("r_peak")
    for k, r in enumerate(analysis.windows.r_peaks):
        beat = waves.loc[r]
        assert table.qrs_ms[k] == pytest.approx((beat.qrs_off - beat.qrs_on) * 1000 / fs)
        assert table.qt_ms[k] == pytest.approx((beat.t_off - beat.qrs_on) * 1000 / fs)
        index = int(np.searchsorted(peaks, r))
        expected_rr = np.nan if index == 0 else (r - peaks[index - 1]) * 1000 / fs
        np.testing.assert_allclose(table.rr_ms[k], expected_rr)
    page = strip_report(analysis, model_card(), "binary", tmp_path / "report.html").read_text()
    assert 'id="intervals"' in page and "Per reference code" in page
    for label, beats in table.groupby("label"):
        cells = [len(beats), *(beats[key].median() for key in ("rr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms"))]
        row = f"<th>{label}</th>" + "".join(f"\n      <td>{cell:.0f}</td>" for cell in cells)
        assert row in page, row


def test_the_analysed_lead_is_judged_for_signal_quality_and_noise_is_named(tmp_path) -> None:
    """Record 208: the analysis judges its lead with the beats' R-peaks (signal_quality's table,
    25 of 30 windows acceptable, no warning) and the report says so. One minute of Gaussian
    noise: the detector finds 'beats' and the model calls them, but no window passes, and both the
    analysis (a warning) and the report's overview say that these beats mean little."""
    import warnings

    from signxai.ecg import Recording, model_card
    from signxai.ecg.quality import signal_quality
    from signxai.ecg.report import strip_report

    strip = load_mitbih_208()
    model = load_beat_model("binary")
    kwargs = {"methods": ["gradient"], "max_abnormal": 1, "max_normal": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        analysis = analyze_strip(strip, model, ["normal", "abnormal"], **kwargs)
    assert analysis.quality is not None and int(analysis.quality["acceptable"].sum()) == 25
    peaks = detect_r_peaks(remove_baseline(strip.signal[0], strip.fs), strip.fs)  # every peak found
    expected = signal_quality(strip.signal[0], strip.fs, peaks, ["MLII"])
    assert analysis.quality.equals(expected)
    page = strip_report(analysis, model_card(), "binary", tmp_path / "208.html").read_text()
    assert '<section id="quality">' in page and "lead MLII: 25 of 30 windows of 10 s acceptable" in page
    assert "Fewer than half" not in page
    assert page.count("Grey: 10 s windows whose beats fail the signal-quality rules") == 1  # 90-100 s
    times = analysis.windows.r_peaks[analysis.explained] / strip.fs  # beats in the windows that fail
    flagged = sum(90 <= t < 100 or 210 <= t < 220 for t in times)  # more than the RR ratio
    assert page.count("Its 10 s window fails the signal-quality rules (") == flagged
    noise = Recording(np.random.default_rng(0).normal(size=(1, 21600)), strip.fs)
    with pytest.warns(UserWarning, match=r"lead lead0: 0 of 6 windows .* are not beats"):
        noisy = analyze_strip(noise, model, ["normal", "abnormal"], **kwargs)
    assert len(noisy.labels) > 100 and not noisy.quality["acceptable"].any()
    page = strip_report(noisy, model_card(), "binary", tmp_path / "noise.html").read_text()
    assert "Fewer than half of this lead&#x27;s 10 s windows meet the signal-quality rules" in page
    assert page.count("template correlation: 0.") == 6 + 2  # the table, and each explained beat
    assert page.count("Its 10 s window fails the signal-quality rules (") == len(noisy.explained) == 2


def test_select_beats_replaces_an_untrusted_beat_by_the_nearest_trusted_one_of_its_class() -> None:
    from signxai.ecg.analysis import select_beats

    predicted = np.array([1, 1, 0, 1, 1, 0, 1, 0])
    assert select_beats(predicted, 2, 0).tolist() == [0, 6]  # evenly spaced among the abnormal
    assert select_beats(predicted, 2, 0, 0, np.ones(8, dtype=bool)).tolist() == [0, 6]  # all trusted
    untrusted = np.ones(8, dtype=bool)
    untrusted[[0, 6]] = False
    # 0 -> 1 (its nearest trusted abnormal beat); 6 -> 4 (3 and 4 remain; 4 is nearer)
    assert select_beats(predicted, 2, 0, 0, untrusted).tolist() == [1, 4]
    # a beat of class 2 is replaced by one of class 2 only: here there is none, so it stays
    assert select_beats(np.array([2, 1, 1]), 3, 0, 0, np.array([False, True, True])).tolist() == [0, 1, 2]
    assert select_beats(np.array([2, 1, 2]), 1, 0, 0, np.array([False, True, True])).tolist() == [2]
    # a tie goes to the earlier beat: 2 -> 1 (1 and 3 are as near)
    five = np.ones(5, dtype=int)
    assert select_beats(five, 3, 0).tolist() == [0, 2, 4]
    assert select_beats(five, 3, 0, 0, np.array([True, True, False, True, True])).tolist() == [0, 1, 4]
    # normal beats too: the random choice, then the nearest trusted normal beat
    normal = np.zeros(6, dtype=int)
    (picked,) = select_beats(normal, 0, 1, seed=3).tolist()
    trusted = np.arange(6) != picked
    (instead,) = select_beats(normal, 0, 1, 3, trusted).tolist()
    assert trusted[instead] and abs(instead - picked) == 1


def test_beats_in_noise_are_not_explained_where_trusted_beats_of_their_class_are() -> None:
    """Record 208 with two bursts of Gaussian noise (SD 0.6 mV at 100-130 and 200-215 s): the
    detector finds beats in them and the model calls half of its abnormal calls there; the plain
    selection would explain three of them, the analysis explains none (their windows fail the
    template correlation), with the same classes. On the clean strip nothing changes."""
    from signxai.ecg.analysis import select_beats
    from signxai.ecg.quality import beat_failures_at

    strip = load_mitbih_208()
    signal = strip.signal.copy()
    rng = np.random.default_rng(0)
    for lo, hi in ((100, 130), (200, 215)):
        part = slice(int(lo * strip.fs), int(hi * strip.fs))
        signal[0, part] += rng.normal(0, 0.6, part.stop - part.start)
    model = load_beat_model("binary")
    for recording, untrusted_plain in ((strip, 0), (dataclasses.replace(strip, signal=signal), 3)):
        analysis = analyze_strip(recording, model, ["normal", "abnormal"], ["gradient"])
        times = analysis.windows.r_peaks / strip.fs
        trusted = np.array([not failed for failed in beat_failures_at(analysis.quality, times)])
        predicted = analysis.probabilities.argmax(axis=1)
        plain = select_beats(predicted, 6, 3, 0)
        assert int((~trusted[plain]).sum()) == untrusted_plain
        assert trusted[analysis.explained].all()
        assert sorted(predicted[analysis.explained]) == sorted(predicted[plain])
        if not untrusted_plain:
            assert analysis.explained.tolist() == plain.tolist()


def test_strip_rows_shade_the_windows_whose_beats_fail_and_only_those() -> None:
    """Record 208's table: only 90-100 s fails a rule on the beats (template correlation); the
    windows that fail only rhythm rules (20-30 s, ...) are not shaded."""
    import matplotlib.pyplot as plt

    from signxai.ecg.quality import signal_quality
    from signxai.ecg.report import _shade_untrusted

    strip = load_mitbih_208()
    quality = signal_quality(strip.signal[0], strip.fs)
    for row_start, seconds, spans in (
        (90.0, 30.0, [(0.0, 10.0)]),
        (85.0, 10.0, [(5.0, 10.0)]),
        (0.0, 30.0, []),
    ):
        fig, ax = plt.subplots()
        assert _shade_untrusted(ax, quality, row_start, seconds) == len(spans)
        drawn = [(round(p.get_x(), 6), round(p.get_x() + p.get_width(), 6)) for p in ax.patches]
        assert drawn == spans
        plt.close(fig)
    fig, ax = plt.subplots()
    assert _shade_untrusted(ax, None, 0.0, 30.0) == 0
    plt.close(fig)


def test_torch_is_warmed_up_before_the_first_method_is_timed(monkeypatch) -> None:
    import signxai.ecg.analysis as analysis

    calls: list[str] = []
    monkeypatch.setattr(analysis, "warm_up_autograd", lambda: calls.append("warm"))
    explain = analysis.explain

    def recorded(*args, **kwargs):
        calls.append("explain")
        return explain(*args, **kwargs)

    monkeypatch.setattr(analysis, "explain", recorded)
    strip = load_mitbih_208()
    short = dataclasses.replace(strip, signal=strip.signal[:, : int(10 * strip.fs)])
    analyze_strip(short, load_beat_model("binary"), ["normal", "abnormal"], ["gradient"], max_abnormal=1)
    assert calls[:2] == ["warm", "explain"]
