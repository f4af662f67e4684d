"""ECG XML files: a real GE MUSE export (a teaching ECG of a hospital, tests/data/muse), decoded
by hand from its base64 as the format stores it, cross-checked against the DICOM file an
independent converter (ecg2dcm) made of it, and against the cart's own beats and measurements;
HL7 aECG files written in the test as the HL7 standard describes them."""

from __future__ import annotations

import base64
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from signxai.ecg.io import lead_names, read_beat_annotations, read_record
from signxai.ecg.leads import derive_limb_leads
from signxai.ecg.preprocess import detect_r_peaks
from signxai.ecg.scoring import match_peaks
from signxai.ecg.xml_ecg import read_xml_annotations
from signxai.errors import InputError

DATA = Path(__file__).parent.parent / "data" / "muse"
STORED = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
STEP = 4.88e-3  # the file's LeadAmplitudeUnitsPerBit, 4.88 uV, in mV


@pytest.fixture
def muse(tmp_path: Path) -> Path:
    path = tmp_path / "ecg.xml"
    shutil.copy(DATA / "sinus_rhythm.xml", path)
    return path


def by_hand(path: Path, kind: str) -> np.ndarray:
    """A waveform's leads in mV from the file's text: base64 of little-endian 16-bit numbers,
    times 4.88 uV."""
    text = path.read_text(encoding="utf-8")
    block = text[text.index(f"<WaveformType>{kind}</WaveformType>") :]
    block = block[: block.index("</Waveform>")]
    leads = re.findall(r"<LeadID>(\w+)</LeadID>.*?<WaveFormData>([^<]*)</WaveFormData>", block, re.S)
    assert [lead for lead, _ in leads] == STORED
    assert block.count("<LeadAmplitudeUnitsPerBit>4.88</LeadAmplitudeUnitsPerBit>") == 8
    return np.stack([np.frombuffer(base64.b64decode(data), dtype="<i2") * STEP for _, data in leads])


def edited(path: Path, old: str, new: str, count: int = 1) -> Path:
    """A copy of ``path`` with ``old`` replaced by ``new`` (``count`` times; 0: all)."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    copy = path.with_name(f"edited{len(list(path.parent.iterdir()))}.xml")
    copy.write_text(text.replace(old, new, count if count else -1), encoding="utf-8")
    return copy


def test_a_real_muse_export_reads_as_its_bytes_say(muse: Path) -> None:
    rhythm = read_record(muse)
    assert rhythm.leads == STORED and rhythm.fs == 500.0 and rhythm.signal.shape == (8, 5000)
    assert rhythm.name == "ecg" and lead_names(muse) == STORED
    np.testing.assert_allclose(rhythm.signal, by_hand(muse, "Rhythm"), rtol=0, atol=1e-12)
    median = read_record(muse, group="MEDIAN")
    assert median.signal.shape == (8, 600) and median.fs == 500.0
    np.testing.assert_allclose(median.signal, by_hand(muse, "Median"), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(read_record(muse, group="median").signal, median.signal)
    np.testing.assert_array_equal(read_record(muse, group=1).signal, rhythm.signal)  # Median first
    some = read_record(muse, leads=["V1", "II"], start=2.0, duration=1.0)
    np.testing.assert_array_equal(some.signal, rhythm.signal[[2, 1], 1000:1500])
    with pytest.raises(InputError, match=r"group must be a waveform group of .*0 'MEDIAN', 1 'RHYTHM'"):
        read_record(muse, group="MEDIAN BEAT")


def test_the_muse_reading_equals_an_independent_converters_dicom(muse: Path) -> None:
    """ecg2dcm (another MUSE reader) wrote the same ECG as DICOM, with III, aVR, aVL, aVF derived
    from I and II in stored integers: the eight stored leads are equal, and the four derived
    ones equal derive_limb_leads within one stored step (it floors the halves)."""
    dicom = read_record(DATA / "sinus_rhythm_ecg2dcm.dcm")
    assert dicom.leads == ["I", "II", "III", "aVR", "aVL", "aVF", *STORED[2:]]  # CID 3001's meanings named
    twelve = derive_limb_leads(read_record(muse))
    assert twelve.leads == dicom.leads and twelve.fs == dicom.fs
    stored = [dicom.leads.index(lead) for lead in STORED]
    np.testing.assert_allclose(twelve.signal[stored], dicom.signal[stored], rtol=0, atol=1e-12)
    derived = [dicom.leads.index(lead) for lead in ("III", "aVR", "aVL", "aVF")]
    difference = np.abs(twelve.signal[derived] - dicom.signal[derived])
    assert difference.max() <= STEP + 1e-12 and np.abs(twelve.signal[derived]).max() > 0.5


def test_the_carts_beats_and_measurements(muse: Path) -> None:
    """The cart's 16 QRS times (ms) are the 16 beats signxai's detector finds on lead II, each a
    little later (the cart marks a fiducial point inside the QRS, not the R-peak); their mean RR
    is the cart's GlobalRR and its rate the VentricularRate, which confirms the times are ms."""
    table = read_xml_annotations(muse)
    statements = table[table.kind == "statement"].text.tolist()
    assert statements == ["窦性心律", "ST段抬高（提示心室早期复极）"]  # the confirmed two, not the 3 original
    measured = table[table.kind == "measurement"].set_index("text")
    assert measured.loc["VentricularRate", "value"] == 97 and measured.loc["QTInterval", "unit"] == "ms"
    assert measured.loc["QRSCount", "value"] == 16
    fiducial = table[table.kind == "fiducial"].set_index("text")
    assert fiducial.loc["QOnset", "sample"] == 219 and fiducial.loc["QOnset", "waveform"] == 0  # median
    beats = table[table.kind == "beat"]
    assert len(beats) == 16 and set(beats.waveform) == {1} and set(beats.text) == {"QRS type 0"}
    times_ms = beats["sample"].to_numpy() * 2  # samples at 500 Hz
    assert abs(np.diff(times_ms).mean() - 616) < 1  # GlobalRR 616 ms; 60000 / 616 = 97 bpm
    rhythm = read_record(muse, leads="II")
    found = detect_r_peaks(rhythm.signal[0], rhythm.fs)
    marked = read_beat_annotations(muse, codes={"QRS type 0": "N"})
    assert marked.fs == 500.0 and marked.symbols == ["N"] * 16
    np.testing.assert_array_equal(marked.samples, np.round(beats["sample"].to_numpy()))
    match = match_peaks(found, marked.samples, rhythm.fs, tolerance=0.03)
    assert match.sensitivity == 1.0 and match.positive_predictivity == 1.0
    offsets = (marked.samples - found) / rhythm.fs * 1000
    assert 18 <= offsets.min() and offsets.max() <= 24, offsets  # measured: 20-22 ms
    with pytest.raises(InputError, match=r"texts are 'QRS type 0' 16; .*codes="):
        read_beat_annotations(muse)
    late = read_beat_annotations(muse, codes={"QRS type 0": "N"}, start=5.0)
    np.testing.assert_array_equal(late.samples, marked.samples[marked.samples >= 2500] - 2500)


def test_a_damaged_or_unusual_muse_file_is_refused_by_name(muse: Path) -> None:
    text = muse.read_text(encoding="utf-8")
    rhythm = text[text.index(">Rhythm<") :]
    data = re.search(r"<LeadID>V2</LeadID>.*?<WaveFormData>\s*([A-Za-z0-9+/]{12})", rhythm, re.S)
    assert data is not None
    flipped = data[1][:8] + ("A" if data[1][8] != "A" else "B") + data[1][9:]
    with pytest.raises(InputError, match=r"RHYTHM, lead V2\): the data fail their CRC32 check"):
        read_record(edited(muse, data[1], flipped))
    off = muse.with_name("off.xml")  # V3 marked off, in both groups
    off.write_text(
        re.sub(r"(<LeadID>V3</LeadID>.*?<LeadOff>)FALSE", r"\1TRUE", text, flags=re.S), encoding="utf-8"
    )
    with pytest.raises(InputError, match=r"marks lead V3 as off .*choose other leads"):
        read_record(off)
    assert read_record(off, leads=["I", "V4"]).signal.shape == (2, 5000)
    millivolts = read_record(edited(muse, "MICROVOLTS", "MILLIVOLTS", 0), leads="I")
    np.testing.assert_allclose(millivolts.signal, read_record(muse, leads="I").signal * 1000)
    unscaled = edited(muse, "<LeadAmplitudeUnitsPerBit>4.88</LeadAmplitudeUnitsPerBit>", "", 0)
    with pytest.raises(InputError, match=r"'I' \(no units per bit\).*not in units of voltage"):
        read_record(unscaled)
    with pytest.raises(InputError, match=r"10000 bytes of data for 6000 samples"):
        read_record(edited(muse, "<LeadSampleCountTotal>5000<", "<LeadSampleCountTotal>6000<"))
    with pytest.raises(InputError, match=r"leads have different lengths, in samples: \{'I': 4000, 'II'"):
        read_record(edited(muse, "<LeadSampleCountTotal>5000<", "<LeadSampleCountTotal>4000<"))
    with pytest.raises(InputError, match="could not be read as XML"):
        read_record(edited(muse, "</RestingECG>", "</RestingEC>"))
    other = muse.with_name("other.xml")
    other.write_text("<?xml version='1.0'?><svg><g/></svg>")
    with pytest.raises(InputError, match=r"root element <svg>; ECG XML files read are GE MUSE"):
        read_record(other)
    with pytest.raises(InputError, match="not found"):
        read_record(muse.with_name("missing.xml"))
    with pytest.raises(InputError, match="extension names a WFDB annotation file"):
        read_beat_annotations(muse, "atr")
    median_only = muse.with_name("median.xml")  # the rhythm left out: the cart's beats have no samples
    median_only.write_text(re.sub(r"<Waveform>\s*<WaveformType>Rhythm.*?</Waveform>", "", text, flags=re.S))
    assert read_record(median_only).signal.shape == (8, 600)  # the first group, the median
    with pytest.raises(
        InputError, match=r"group must be a waveform group of .*\(.*0 'MEDIAN'\), got 'RHYTHM'"
    ):
        read_beat_annotations(median_only, codes={"QRS type 0": "N"})
    assert read_xml_annotations(median_only).query("kind == 'beat'")["sample"].isna().all()


AECG = """<?xml version="1.0" encoding="UTF-8"?>
<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <id root="728989ec-b8d4-4a9b-8a3b-1d5d4a0b8b0e"/>
  <code code="93000" codeSystem="2.16.840.1.113883.6.12"/>
  <component>
    <series>
      <id root="61d1a24f-b47e-41aa-ae95-f8ac302f4eeb"/>
      <code code="RHYTHM" codeSystem="2.16.840.1.113883.5.4"/>
      <component>
        <sequenceSet>
          <component>
            <sequence>
              <code code="TIME_ABSOLUTE" codeSystem="2.16.840.1.113883.5.4"/>
              <value xsi:type="GLIST_TS"><head value="20021122091000.000"/>
                <increment value="{increment}"/></value>
            </sequence>
          </component>
          {leads}
        </sequenceSet>
      </component>
      <derivation>
        <derivedSeries>
          <code code="REPRESENTATIVE_BEAT" codeSystem="2.16.840.1.113883.5.4"/>
          <component>
            <sequenceSet>
              <component>
                <sequence>
                  <code code="TIME_RELATIVE" codeSystem="2.16.840.1.113883.5.4"/>
                  <value xsi:type="GLIST_PQ"><head value="0" unit="s"/>
                    <increment value="0.004" unit="s"/></value>
                </sequence>
              </component>
              {beat}
            </sequenceSet>
          </component>
        </derivedSeries>
      </derivation>
    </series>
  </component>
</AnnotatedECG>
"""


ZERO = '<origin value="0" unit="uV"/>'


def lead(code: str, digits: np.ndarray, origin: str = ZERO, scale: str = "5") -> str:
    """One aECG lead sequence: its MDC code and SLIST_PQ value (origin, scale in uV, digits)."""
    return (
        f'<component><sequence><code code="{code}" codeSystem="2.16.840.1.113883.6.24"/>'
        f'<value xsi:type="SLIST_PQ">{origin}<scale value="{scale}" unit="uV"/>'
        f"<digits>{' '.join(str(d) for d in digits)}</digits></value></sequence></component>"
    )


def test_an_hl7_aecg_file_reads_as_the_standard_says(tmp_path: Path) -> None:
    """value = origin + scale x digits, in the scale's unit; the rate one over the increment."""
    rng = np.random.default_rng(0)
    digits = rng.integers(-400, 400, size=(3, 1000))
    leads = lead("MDC_ECG_LEAD_I", digits[0]) + lead("MDC_ECG_LEAD_AVR", digits[1])
    leads += lead("MDC_ECG_LEAD_V1", digits[2], '<origin value="0.1" unit="mV"/>', "2.5")
    beat = lead("MDC_ECG_LEAD_I", digits[0, :250])
    path = tmp_path / "trial.xml"
    path.write_text(AECG.format(increment='0.002" unit="s', leads=leads, beat=beat))
    rhythm = read_record(path)
    assert rhythm.leads == ["I", "aVR", "V1"] and rhythm.fs == 500.0 and rhythm.signal.shape == (3, 1000)
    np.testing.assert_allclose(rhythm.signal[:2], digits[:2] * 5e-3, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rhythm.signal[2], 0.1 + digits[2] * 2.5e-3, rtol=0, atol=1e-12)
    beat_group = read_record(path, group="REPRESENTATIVE_BEAT")
    assert beat_group.fs == 250.0 and beat_group.leads == ["I"]
    np.testing.assert_allclose(beat_group.signal[0], digits[0, :250] * 5e-3, rtol=0, atol=1e-12)
    path.write_text(AECG.format(increment='2" unit="ms', leads=leads, beat=beat))
    assert read_record(path).fs == 500.0
    with pytest.raises(InputError, match=r"HL7 aECG file: its annotations are not read as beats"):
        read_beat_annotations(path)
    with pytest.raises(InputError, match=r"HL7 aECG file: its annotations are not read"):
        read_xml_annotations(path)
    root = ET.fromstring(AECG.format(increment='0" unit="s', leads=leads, beat=beat))
    assert root.tag == "{urn:hl7-org:v3}AnnotatedECG"
    path.write_text(AECG.format(increment='0" unit="s', leads=leads, beat=beat))
    with pytest.raises(InputError, match=r"\(RHYTHM\): the time sequence's increment .* gives no sampling"):
        read_record(path)
    unscaled = AECG.format(
        increment='0.002" unit="s', leads=lead("MDC_ECG_LEAD_I", digits[0, :10]), beat=beat
    )
    path.write_text(unscaled.replace('<scale value="5" unit="uV"/>', "", 1))
    with pytest.raises(InputError, match=r"'I' \(no scale: raw numbers\)"):
        read_record(path)
    pressure = lead("MDC_ECG_LEAD_I", digits[0, :10], '<origin value="3" unit="mmHg"/>')
    path.write_text(AECG.format(increment='0.002" unit="s', leads=pressure, beat=beat))
    with pytest.raises(InputError, match=r"lead I\): its origin is in mmHg and its scale in uV"):
        read_record(path)


def test_derive_limb_leads_holds_to_einthoven_on_a_real_12_lead_ecg() -> None:
    """pydicom's real 12-lead ECG stores all six limb leads: the four derived from its I and II
    equal the recorded ones within half a stored step (1.25 uV per unit)."""
    from pydicom.data import get_testdata_file

    from signxai.ecg.datasets import Recording
    from signxai.ecg.io import select

    recorded = read_record(get_testdata_file("waveform_ecg.dcm"))
    eight = select(recorded, leads=["V1", "I", "V2", "V3", "II", "V4", "V5", "V6"])
    before = eight.signal.copy()
    twelve = derive_limb_leads(eight)
    np.testing.assert_array_equal(eight.signal, before)  # the recording given is not changed
    assert twelve.leads == recorded.leads and twelve.name == recorded.name
    np.testing.assert_allclose(twelve.signal, recorded.signal, rtol=0, atol=0.625e-3 + 1e-12)
    kept = derive_limb_leads(select(recorded, leads=["I", "II", "III", "V1"]))
    np.testing.assert_array_equal(kept.signal[2], recorded.signal[2])  # a lead it has is kept as recorded
    extra = Recording(np.ones((3, 100)), 100.0, ["II", "V3R", "I"])
    assert derive_limb_leads(extra).leads == ["I", "II", "III", "aVR", "aVL", "aVF", "V3R"]
    with pytest.raises(InputError, match=r"leads 'I' and 'II' .*lacks \['I'\]"):
        derive_limb_leads(select(recorded, leads=["II", "V1"]))
    with pytest.raises(InputError, match=r"lacks \['I', 'II'\] \(its leads: unnamed\)"):
        derive_limb_leads(Recording(np.ones((2, 100)), 100.0))
