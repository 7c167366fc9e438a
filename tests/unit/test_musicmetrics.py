import json

import numpy as np
import pytest
from scipy.stats import gaussian_kde, norm

from genlab.metrics import music as MM

C4, D4, E4, F4, G4, A4, B4, C5 = 60, 62, 64, 65, 67, 69, 71, 72

KEYS = [
    "polyphony",
    "pitch_class_tv",
    "pitch_range",
    "scale_consistency",
    "chord_copy_rate",
    "oa_pitch_count",
    "oa_pitch_class_hist",
    "n_pieces",
    "frames_compared",
]


def roll(*frames):
    """A (T, 88) uint8 roll; each argument is the list of MIDI pitches sounding in that frame."""
    r = np.zeros((len(frames), 88), np.uint8)
    for t, pitches in enumerate(frames):
        for p in pitches:
            r[t, p - 21] = 1
    return r


def random_rolls(rng, n, t, p=0.05, keys=88):
    out = []
    for _ in range(n):
        r = np.zeros((t, 88), np.uint8)
        r[:, :keys] = rng.random((t, keys)) < p
        out.append(r)
    return out


# --- layout -------------------------------------------------------------------------------


def test_columns_and_pitch_classes():
    assert MM.PITCHES[0] == 21 and MM.PITCHES[-1] == 108
    assert MM.PITCH_CLASS[0] == 9  # A0
    assert MM.PITCH_CLASS[C4 - 21] == 0
    # C major on tonic 0 is C D E F G A B; A minor (tonic 9 natural minor) is the same set.
    assert np.flatnonzero(MM.SCALES[0]).tolist() == [0, 2, 4, 5, 7, 9, 11]
    assert MM.SCALES.sum() == 12 * 7


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        MM.polyphony([np.zeros((4, 87), np.uint8)])
    with pytest.raises(ValueError):
        MM.polyphony([np.zeros(88, np.uint8)])
    with pytest.raises(ValueError):
        MM.chord_copy_rate([roll([C4])], [roll([C4])], window=0)


# --- per-set statistics -------------------------------------------------------------------


def test_polyphony_pools_frames():
    a = roll([C4, E4, G4], [], [C4], [C4, G4])  # 3 + 0 + 1 + 2 = 6 cells in 4 frames
    b = roll([], [])  # 2 silent frames
    assert MM.polyphony([a]) == pytest.approx(1.5)
    assert MM.polyphony([a, b]) == pytest.approx(6 / 6)
    assert MM.polyphony(np.stack([a, a])) == pytest.approx(1.5)  # (N, T, 88) input
    assert MM.polyphony([]) is None
    assert MM.polyphony([roll()]) is None  # no frames at all


def test_pitch_class_histogram_and_tv():
    only_c = [roll([C4], [C5], [C4])]  # three C cells, octaves folded
    half_cg = [roll([C4], [G4]), roll([C5, G4])]  # C C G G
    h = MM.pitch_class_histogram(half_cg)
    assert h[0] == pytest.approx(0.5) and h[7] == pytest.approx(0.5) and h.sum() == pytest.approx(1)
    assert MM.pitch_class_tv(only_c, half_cg) == pytest.approx(0.5)
    assert MM.pitch_class_tv(half_cg, half_cg) == 0.0
    assert MM.pitch_class_tv(only_c, [roll([C4 + 12])]) == 0.0  # same pitch class, other octave
    # Disjoint pitch classes: TV 1. Cells, not pieces, are counted: 3 C + 1 D vs 1 C -> 0.25.
    assert MM.pitch_class_tv(only_c, [roll([D4])]) == pytest.approx(1.0)
    assert MM.pitch_class_tv([roll([C4], [C4], [C4], [D4])], [roll([C4])]) == pytest.approx(0.25)
    assert MM.pitch_class_tv(only_c, [roll([], [])]) is None
    assert MM.pitch_class_histogram([roll([])]).tolist() == [0.0] * 12


def test_pitch_range():
    wide = roll([21], [108])  # A0 .. C8
    fifth = roll([C4, G4], [C4])
    silent = roll([], [])
    assert MM.pitch_range([wide]) == 87.0
    assert MM.pitch_range([fifth]) == 7.0
    assert MM.pitch_range([wide, fifth, silent]) == pytest.approx((87 + 7) / 2)  # silent skipped
    assert MM.pitch_range([roll([C4])]) == 0.0
    assert MM.pitch_range([silent]) is None


def test_scale_consistency():
    c_major = roll(*[[p] for p in (C4, D4, E4, F4, G4, A4, B4, C5)])
    chromatic = roll(*[[p] for p in range(C4, C4 + 12)])
    assert MM.scale_consistency([c_major]) == 1.0
    assert MM.scale_consistency([chromatic]) == pytest.approx(7 / 12)
    assert MM.scale_consistency([c_major, chromatic, roll([])]) == pytest.approx((1 + 7 / 12) / 2)
    # Three adjacent semitones: no major scale holds all three, each holds at most two.
    assert MM.scale_consistency([roll([C4, C4 + 1, D4])]) == pytest.approx(2 / 3)
    # C held 5 frames + F# once: G major (G A B C D E F#) holds all 6 cells.
    assert MM.scale_consistency([roll(*[[C4]] * 5, [C4 + 6])]) == 1.0
    # C held 5 frames + C# + D once each: best is a scale with C and D (5+1 of 7 cells).
    assert MM.scale_consistency([roll(*[[C4]] * 5, [C4 + 1], [D4])]) == pytest.approx(6 / 7)
    assert MM.scale_consistency([roll([], [])]) is None


# --- copying ------------------------------------------------------------------------------

# Eight different chords, one per frame.
CHORDS = [[C4], [D4], [E4, G4], [F4], [G4, B4], [A4], [B4, D4], [C5, E4]]
TRAIN = [roll(*CHORDS)]


def test_chord_copy_rate_copies():
    copies = [roll(*CHORDS[0:3]), roll(*CHORDS[3:8]), roll(*CHORDS)]
    assert MM.chord_copy_rate(copies, TRAIN, window=2) == 1.0
    assert MM.chord_copy_rate(copies, TRAIN, window=3) == 1.0
    assert MM.chord_copy_rate(TRAIN, TRAIN, window=8) == 1.0


def test_chord_copy_rate_new_chord_in_the_middle():
    new = [D4 + 1, A4 + 1]  # a chord that never occurs in the training piece
    piece = roll(*CHORDS[0:3], new, *CHORDS[4:7])  # 7 frames, 6 windows of 2
    # (0,1) (1,2) known; (2,new) (new,4) unknown; (4,5) (5,6) known -> 4 of 6.
    assert MM.chord_copy_rate([piece], TRAIN, window=2) == pytest.approx(4 / 6)
    # Windows of 3: (0,1,2) (4,5,6) known, the 3 holding `new` not -> 2 of 5.
    assert MM.chord_copy_rate([piece], TRAIN, window=3) == pytest.approx(2 / 5)
    # A piece shorter than the window adds no windows; multiplicity counts across pieces.
    assert MM.chord_copy_rate([piece, roll(new)], TRAIN, window=2) == pytest.approx(4 / 6)
    assert MM.chord_copy_rate([piece, roll(*CHORDS[:3])], TRAIN, window=2) == pytest.approx(6 / 8)


def test_chord_copy_rate_exact_cells_and_boundaries():
    # One cell different (the top key, last bit of the last byte) is no copy.
    almost = roll(*CHORDS[:2])
    almost[1, 87] = 1
    assert MM.chord_copy_rate([almost], TRAIN, window=2) == 0.0
    # The same chords transposed by a semitone are no copy either.
    assert MM.chord_copy_rate([roll(*[[p + 1 for p in c] for c in CHORDS])], TRAIN, window=2) == 0.0
    # Windows never cross training pieces: chords 2,3 are adjacent only across the cut.
    split = [roll(*CHORDS[:3]), roll(*CHORDS[3:])]
    assert MM.chord_copy_rate([roll(*CHORDS[2:4])], split, window=2) == 0.0
    assert MM.chord_copy_rate([roll(*CHORDS[1:3])], split, window=2) == 1.0
    # Nor scored pieces: two one-frame pieces have no 2-frame window.
    assert MM.chord_copy_rate([roll(CHORDS[0]), roll(CHORDS[1])], TRAIN, window=2) is None
    assert MM.chord_copy_rate([roll(*CHORDS[:3])], TRAIN, window=4) is None  # shorter than window
    assert MM.chord_copy_rate([], TRAIN, window=2) is None
    # No training window at all: nothing is a copy.
    assert MM.chord_copy_rate([roll(*CHORDS)], [roll(CHORDS[0])], window=2) == 0.0


def test_chord_copy_rate_matches_brute_force():
    rng = np.random.default_rng(1)
    # Few keys, sparse: many repeated windows, so both hits and misses occur.
    train = random_rolls(rng, 6, 40, p=0.3, keys=3)
    pieces = random_rolls(rng, 5, 30, p=0.3, keys=3) + [np.zeros((2, 88), np.uint8)]
    for window in (1, 2, 3, 4):
        known = {t[i : i + window].tobytes() for t in train for i in range(len(t) - window + 1)}
        hits = [p[i : i + window].tobytes() in known for p in pieces for i in range(len(p) - window + 1)]
        got = MM.chord_copy_rate(pieces, train, window)
        assert got == pytest.approx(sum(hits) / len(hits))
        assert 0 < got < 1 or window == 1


# --- Yang & Lerch overlap areas -----------------------------------------------------------


def test_per_piece_features():
    a = roll([C4, G4], [C4], [C5])  # pitches 60 67 72 -> 3; classes C C C G -> 0.75 / 0.25
    b = roll([], [])
    assert MM.pitch_counts([a, b]).tolist() == [3, 0]
    h = MM.pitch_class_histograms([a, b])
    assert h.shape == (2, 12)
    assert h[0, 0] == pytest.approx(0.75) and h[0, 7] == pytest.approx(0.25)
    assert h[1].tolist() == [0.0] * 12


def test_distances():
    assert MM.intra_distances(np.array([0, 1, 3])).tolist() == [1, 3, 2]  # (0,1) (0,2) (1,2)
    assert MM.inter_distances(np.array([0, 5]), np.array([1, 3])).tolist() == [1, 3, 4, 2]
    hist = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert MM.intra_distances(hist) == pytest.approx([np.sqrt(2), 0.0, np.sqrt(2)])
    assert MM.inter_distances(hist[:1], hist) == pytest.approx([0.0, np.sqrt(2), 0.0])
    assert len(MM.intra_distances(np.array([4]))) == 0


def test_kde_matches_scipy():
    rng = np.random.default_rng(0)
    for data in (rng.normal(size=300), rng.integers(0, 6, size=400).astype(float)):  # ties too
        x = np.linspace(data.min() - 2, data.max() + 2, 101)
        ref = gaussian_kde(data)
        assert MM.scott_bandwidth(data) == pytest.approx(np.sqrt(ref.covariance[0, 0]), rel=1e-12)
        got = MM.kde_pdf(data, x, MM.scott_bandwidth(data))
        assert got == pytest.approx(ref(x), rel=1e-9, abs=1e-15)


def test_overlap_area_identical_and_far():
    rng = np.random.default_rng(0)
    a = rng.normal(size=500)
    assert MM.overlap_area(a, a) == pytest.approx(1.0, abs=0.02)
    ints = rng.integers(0, 10, size=300)
    assert MM.overlap_area(ints, ints.copy()) == pytest.approx(1.0, abs=0.02)
    assert MM.overlap_area(a, rng.normal(size=700)) > 0.9  # same distribution
    assert MM.overlap_area(a, a + 50) < 1e-6
    assert MM.overlap_area(ints, ints + 100) < 1e-6


def test_overlap_area_of_two_normals():
    # Quantiles of N(0, 1) and N(1, 1): the overlap of the densities is 2 Phi(-1/2). Each KDE
    # is the normal widened by its bandwidth h (variance 1 + h^2), hence the scale.
    q = norm.ppf((np.arange(2000) + 0.5) / 2000)
    h = MM.scott_bandwidth(q)
    expected = 2 * norm.cdf(-0.5 / np.sqrt(1 + h**2))
    assert MM.overlap_area(q, q + 1) == pytest.approx(expected, abs=5e-3)


def test_overlap_area_degenerate():
    spread = np.array([0.0] * 50 + [1.0] * 50)
    # A constant set borrows the other set's bandwidth h: N(0, h) against the mixture
    # 0.5 N(0, h) + 0.5 N(1, h). They cross at 1/2: integral = 0.5 + (1 - Phi(0.5 / h)).
    h = MM.scott_bandwidth(spread)
    expected = 0.5 + norm.sf(0.5 / h)
    assert MM.overlap_area(np.zeros(10), spread) == pytest.approx(expected, abs=2e-3)
    assert MM.overlap_area(spread, np.zeros(10)) == pytest.approx(expected, abs=2e-3)
    assert MM.overlap_area([0.0], spread) == pytest.approx(expected, abs=2e-3)  # one distance
    # Both degenerate: 1 when equal, 0 when not.
    assert MM.overlap_area(np.zeros(5), np.zeros(3)) == 1.0
    assert MM.overlap_area([2.0], [2.0]) == 1.0
    assert MM.overlap_area(np.zeros(5), np.ones(3)) == 0.0
    assert MM.overlap_area(np.full(4, 0.3), np.full(4, 0.1 + 0.2)) == 1.0  # rounding noise
    # Empty: undefined.
    assert MM.overlap_area([], spread) is None
    assert MM.overlap_area(spread, []) is None
    for v in (MM.overlap_area([0.0], [5.0, 5.0 + 1e-300]), MM.overlap_area([3.0], np.arange(4.0))):
        assert 0.0 <= v <= 1.0


def test_overlap_areas_sets():
    rng = np.random.default_rng(2)
    ref = random_rolls(rng, 40, 16, p=0.04)
    same = random_rolls(rng, 40, 16, p=0.04)
    narrow = random_rolls(rng, 40, 16, p=0.5, keys=5)  # few pitches, few pitch classes
    good = MM.overlap_areas(same, ref)
    bad = MM.overlap_areas(narrow, ref)
    assert good["oa_pitch_count"] > 0.7 and good["oa_pitch_class_hist"] > 0.7
    assert bad["oa_pitch_count"] < 0.05 and bad["oa_pitch_class_hist"] < 0.05
    # max_pieces takes the first pieces of each set.
    assert MM.overlap_areas(same + narrow, ref + narrow, max_pieces=40) == good
    # Reference of fewer than 2 pieces, or nothing scored: undefined.
    assert MM.overlap_areas(same, ref[:1]) == {"oa_pitch_count": None, "oa_pitch_class_hist": None}
    assert MM.overlap_areas([], ref) == {"oa_pitch_count": None, "oa_pitch_class_hist": None}
    # Identical reference pieces, scored set equal to them: every distance 0 -> overlap 1.
    same_piece = [roll([C4, G4])] * 3
    assert MM.overlap_areas(same_piece, same_piece) == {"oa_pitch_count": 1.0, "oa_pitch_class_hist": 1.0}


# --- everything ---------------------------------------------------------------------------


def test_music_sample_metrics_values():
    c_major = roll(*[[p] for p in (C4, D4, E4, F4, G4, A4, B4, C5)])
    out = MM.music_sample_metrics([c_major], [c_major, c_major], [c_major], window=2)
    assert list(out) == KEYS
    assert out["polyphony"] == 1.0
    assert out["pitch_class_tv"] == 0.0
    assert out["pitch_range"] == 12.0
    assert out["scale_consistency"] == 1.0
    assert out["chord_copy_rate"] == 1.0
    assert out["oa_pitch_count"] == 1.0 and out["oa_pitch_class_hist"] == 1.0
    assert out["n_pieces"] == 1 and out["frames_compared"] is None


def test_frames_cuts_pieces_but_not_the_copy_rate():
    late = roll([], [], [], [], [C4, E4], [G4])  # notes only after frame 4
    ref = [roll([C4], [C4], [C4], [C4], [D4], [D4]), roll([G4], [G4], [G4], [G4], [D4], [D4])]
    full = MM.music_sample_metrics([late], ref, [late], window=2)
    cut = MM.music_sample_metrics([late], ref, [late], frames=4, window=2)
    assert full["polyphony"] == pytest.approx(3 / 6) and cut["polyphony"] == 0.0
    assert full["pitch_range"] == 7.0 and cut["pitch_range"] is None
    assert cut["scale_consistency"] is None and cut["pitch_class_tv"] is None
    # Reference cut too: C C C C | G G G G -> half C half G; the full one has D's as well.
    assert MM.music_sample_metrics([roll([C4], [G4])], ref, [late], frames=4)["pitch_class_tv"] == 0.0
    assert full["chord_copy_rate"] == cut["chord_copy_rate"] == 1.0  # whole pieces
    assert cut["frames_compared"] == 4 and full["frames_compared"] is None
    # Cutting beyond the length changes nothing.
    assert MM.music_sample_metrics([late], ref, [late], frames=100, window=2) | {"frames_compared": None} == full


def test_json_safe_on_random_and_empty_inputs():
    rng = np.random.default_rng(3)
    pieces = np.stack(random_rolls(rng, 12, 24, p=0.05))  # (N, T, 88) array
    ref = random_rolls(rng, 10, 20, p=0.05) + [np.zeros((20, 88), np.uint8)]
    train = random_rolls(rng, 10, 30, p=0.05)
    cases = [
        MM.music_sample_metrics(pieces, ref, train, frames=16),
        MM.music_sample_metrics(list(pieces), ref, train, max_pieces=5, window=1),
        MM.music_sample_metrics([], ref, train),
        MM.music_sample_metrics([np.zeros((3, 88), np.uint8)], [np.zeros((3, 88), np.uint8)], [], window=2),
        MM.music_sample_metrics(pieces, ref[:1], train),
    ]
    for out in cases:
        assert list(out) == KEYS
        json.dumps(out, allow_nan=False)
        for k, v in out.items():
            assert v is None or type(v) in (float, int), (k, v)
    assert cases[0]["n_pieces"] == 12 and cases[0]["frames_compared"] == 16
    assert cases[2]["n_pieces"] == 0 and all(cases[2][k] is None for k in KEYS[:7])
    assert cases[3]["polyphony"] == 0.0 and cases[3]["chord_copy_rate"] == 0.0
    assert cases[3]["pitch_class_tv"] is None and cases[3]["oa_pitch_count"] is None
    assert cases[4]["oa_pitch_count"] is None and cases[4]["oa_pitch_class_hist"] is None
    for k in ("oa_pitch_count", "oa_pitch_class_hist", "pitch_class_tv", "chord_copy_rate", "scale_consistency"):
        assert 0.0 <= cases[0][k] <= 1.0
