"""Sample metrics for generated piano rolls: musical statistics, copying, and Yang & Lerch overlap.

A piece is a binary piano roll, a (T, 88) array: column k is MIDI pitch 21 + k (A0..C8), row t
a frame, 1 = the key sounds in that frame. A "cell" is one (frame, key) pair that sounds. The
pitch class of column k is (21 + k) % 12 (0 = C). Every metric is computed for a model's
samples and, with the same code, for a held-out real split (the reference row); read a model
against that row. ``frames`` cuts every scored and reference piece to its first ``frames``
frames before the per-piece statistics, so pieces of different lengths are compared over the
same span (the copy rate always uses whole pieces).

- ``polyphony``: sounding cells divided by frames, pooled over every frame of every piece
  (silent frames count as 0): the mean number of keys held at once.
- ``pitch_class_tv``: total variation distance 0.5 * sum_c |p_c - q_c| between the 12-bin
  pitch-class histograms of the scored set and of the reference set, each counting every
  sounding cell of the set and normalised to sum 1. In [0, 1]; 0 = same pitch-class usage.
- ``pitch_range``: mean over pieces with at least one note of (highest - lowest) sounding MIDI
  pitch, in semitones.
- ``scale_consistency``: per piece with notes, the largest share of its sounding cells whose
  pitch class lies in one major (diatonic) scale, maximised over the 12 tonics (intervals
  0 2 4 5 7 9 11; the natural minor scales are the same 12 sets); mean over pieces (Mogren
  2016, "C-RNN-GAN: Continuous recurrent neural networks with adversarial training"). 1 for
  tonal music in one key; a chromatic scale gives 7/12.
- ``chord_copy_rate``: share of all ``window``-frame windows of the scored pieces (every start
  position, windows never cross pieces) that occur verbatim, all window x 88 cells equal,
  among the ``window``-frame windows of the training pieces. Exact: each window is its
  np.packbits bytes (88 keys = 11 whole bytes per frame, so the bytes determine the cells),
  and windows are matched by sorting those bytes (as 64-bit words) together with the training
  windows, not by hashing. Far above the real row: the model replays training passages.
- ``oa_pitch_count`` / ``oa_pitch_class_hist``: the overlap areas of Yang & Lerch (2018, "On
  the evaluation of generative models in music", Neural Computing and Applications). Per-piece
  features: the number of distinct MIDI pitches that sound in the piece, and its 12-bin
  pitch-class histogram normalised to sum 1 (the zero vector for a piece without notes). With
  at most ``max_pieces`` pieces per set (the first ones), the intra-set distances are those of
  every reference pair i < j, the inter-set distances those of every (scored piece, reference
  piece) pair; distance = absolute difference (count) or Euclidean (histogram). Each distance
  set is smoothed with a Gaussian KDE and the overlap area is the integral of
  min(p_intra, p_inter), in [0, 1]: 1 = the samples lie as far from the reference as its own
  pieces lie from each other; near 0 = much farther (or, for a collapsed model, much closer).

The KDE is scipy.stats.gaussian_kde's with Scott's rule (kernel standard deviation
h = std(ddof=1) * n ** (-1/5); the tests check the densities agree), evaluated directly on the
distinct distances weighted by their counts, which is the same density and much faster for
integer distances. The overlap is integrated by the trapezoid rule on the union of two grids
of ``n_grid`` points, each covering one set from its min - 6h to its max + 6h (the mass
beyond is < 1e-9), so each density is resolved at its own bandwidth. Degenerate sets (one
distance, or zero variance, where gaussian_kde fails on a singular covariance): a degenerate
set is a point mass at its value, smoothed with the *other* set's Scott bandwidth, so
``overlap_area([0], inter)`` is about the share of ``inter`` near 0; when both sets are
degenerate the overlap is 1 if the two values are equal (within 1e-9 relative) and 0 if not,
the limit of any common bandwidth going to 0. An empty set gives None.

Undefined values are None (never nan), so the dict from ``music_sample_metrics`` is JSON-safe.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

N_KEYS = 88
LOWEST_PITCH = 21  # MIDI pitch of column 0 (A0)
PITCHES = LOWEST_PITCH + np.arange(N_KEYS)
PITCH_CLASS = PITCHES % 12  # pitch class of each column, 0 = C
_PC_ONEHOT = (PITCH_CLASS[:, None] == np.arange(12)[None, :]).astype(np.int64)  # (88, 12)
MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
# SCALES[t, c]: pitch class c is in the major scale on tonic t.
SCALES = np.isin((np.arange(12)[None, :] - np.arange(12)[:, None]) % 12, MAJOR_STEPS)

Pieces = Sequence[np.ndarray] | np.ndarray


def as_pieces(pieces: Pieces, frames: int | None = None) -> list[np.ndarray]:
    """A list of bool (T_i, 88) rolls (nonzero = sounding), each cut to its first ``frames``
    frames when given. Accepts a list of (T_i, 88) arrays or one (N, T, 88) array."""
    if frames is not None and frames < 0:
        raise ValueError(f"frames must be >= 0, got {frames}")
    if isinstance(pieces, np.ndarray) and pieces.ndim == 3:
        pieces = list(pieces)
    out = []
    for i, p in enumerate(pieces):
        p = np.asarray(p)
        if p.ndim != 2 or p.shape[1] != N_KEYS:
            raise ValueError(f"piece {i} must be a (T, {N_KEYS}) piano roll, got shape {p.shape}")
        if frames is not None:
            p = p[:frames]
        out.append(p if p.dtype == bool else p != 0)
    return out


def _key_counts(pieces: list[np.ndarray]) -> np.ndarray:
    """(N, 88) int64: frames in which each key sounds, per piece."""
    if not pieces:
        return np.zeros((0, N_KEYS), np.int64)
    return np.stack([p.sum(axis=0, dtype=np.int64) for p in pieces])


def _pitch_class_counts(pieces: list[np.ndarray]) -> np.ndarray:
    """(N, 12) int64: sounding cells per pitch class, per piece."""
    return _key_counts(pieces) @ _PC_ONEHOT


def _normalise_rows(counts: np.ndarray) -> np.ndarray:
    total = counts.sum(axis=-1, keepdims=True)
    return np.divide(counts, total, out=np.zeros(counts.shape), where=total > 0)


# --- per-set statistics -------------------------------------------------------------------


def polyphony(pieces: Pieces) -> float | None:
    """Sounding cells / frames over every frame of every piece; None without frames."""
    ps = as_pieces(pieces)
    n_frames = sum(len(p) for p in ps)
    if n_frames == 0:
        return None
    return float(sum(int(np.count_nonzero(p)) for p in ps) / n_frames)


def pitch_class_histogram(pieces: Pieces) -> np.ndarray:
    """(12,) share of the set's sounding cells in each pitch class (0 = C); zeros without notes."""
    return _normalise_rows(_pitch_class_counts(as_pieces(pieces)).sum(axis=0))


def pitch_class_tv(a: Pieces, b: Pieces) -> float | None:
    """0.5 * sum |p - q| between the pooled pitch-class histograms of sets a and b; None if
    either set has no notes."""
    ca = _pitch_class_counts(as_pieces(a)).sum(axis=0)
    cb = _pitch_class_counts(as_pieces(b)).sum(axis=0)
    if ca.sum() == 0 or cb.sum() == 0:
        return None
    return float(0.5 * np.abs(ca / ca.sum() - cb / cb.sum()).sum())


def pitch_range(pieces: Pieces) -> float | None:
    """Mean over pieces with notes of highest - lowest sounding MIDI pitch (semitones); None if
    no piece has notes."""
    sounding = _key_counts(as_pieces(pieces)) > 0  # (N, 88)
    has = sounding.any(axis=1)
    if not has.any():
        return None
    s = sounding[has]
    lowest = np.argmax(s, axis=1)
    highest = N_KEYS - 1 - np.argmax(s[:, ::-1], axis=1)
    return float((highest - lowest).mean())


def scale_consistency(pieces: Pieces) -> float | None:
    """Mean over pieces with notes of max over the 12 major scales of the share of the piece's
    sounding cells in that scale (Mogren 2016); None if no piece has notes."""
    counts = _pitch_class_counts(as_pieces(pieces))  # (N, 12)
    total = counts.sum(axis=1)
    has = total > 0
    if not has.any():
        return None
    in_scale = counts[has] @ SCALES.T.astype(np.int64)  # (N', 12 tonics)
    return float((in_scale.max(axis=1) / total[has]).mean())


# --- copying ------------------------------------------------------------------------------


def _windows(pieces: list[np.ndarray], window: int) -> np.ndarray:
    """(W, ceil(window * 11 / 8)) uint64: the packed bits of every window-frame window of
    every piece (zero-padded to whole 64-bit words); equal rows iff equal windows."""
    row_bytes = N_KEYS // 8
    n_bytes = window * row_bytes
    n_words = -(-n_bytes // 8)
    parts = []
    for p in pieces:
        if len(p) < window:
            continue
        flat = np.packbits(p, axis=1).reshape(-1)  # (T * 11,), frame after frame
        win = sliding_window_view(flat, n_bytes)[::row_bytes]  # (T - window + 1, n_bytes)
        padded = np.zeros((len(win), n_words * 8), np.uint8)
        padded[:, :n_bytes] = win
        parts.append(padded.view(np.uint64))
    if not parts:
        return np.zeros((0, n_words), np.uint64)
    return np.concatenate(parts)


def _row_ids(rows: np.ndarray) -> np.ndarray:
    """Dense ids of the rows of a 2-D array: equal ids iff the rows are equal (sort-based)."""
    if len(rows) == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort(rows.T[::-1])
    s = rows[order]
    new = np.empty(len(s), bool)
    new[0] = True
    np.any(s[1:] != s[:-1], axis=1, out=new[1:])
    ids = np.empty(len(s), np.int64)
    ids[order] = np.cumsum(new) - 1
    return ids


def chord_copy_rate(pieces: Pieces, train: Pieces, window: int = 4) -> float | None:
    """Share of the window-frame windows of ``pieces`` (every start, within pieces) that occur
    verbatim among the window-frame windows of ``train``. Exact. None if no piece of
    ``pieces`` has ``window`` frames."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    sample = _windows(as_pieces(pieces), window)
    if len(sample) == 0:
        return None
    known = _windows(as_pieces(train), window)
    ids = _row_ids(np.concatenate([known, sample]))
    seen = np.zeros(int(ids.max()) + 1, bool)
    seen[ids[: len(known)]] = True
    return float(np.count_nonzero(seen[ids[len(known) :]]) / len(sample))


# --- Yang & Lerch overlap areas -----------------------------------------------------------


def key_distance(primers: Pieces, continuations: Pieces) -> float | None:
    """Mean over pieces of the total variation distance between the pitch-class histograms of a
    primer and of its continuation (pairs in order; pairs where either has no notes left out): 0 when
    the continuation uses the primer's pitch classes in the same shares, 1 when it uses none of them."""
    a, b = _pitch_class_counts(as_pieces(primers)), _pitch_class_counts(as_pieces(continuations))
    both = (a.sum(1) > 0) & (b.sum(1) > 0)
    if not both.any():
        return None
    return float(0.5 * np.abs(_normalise_rows(a[both]) - _normalise_rows(b[both])).sum(1).mean())


def pitch_counts(pieces: Pieces) -> np.ndarray:
    """(N,) int64: number of distinct MIDI pitches that sound in each piece."""
    return np.count_nonzero(_key_counts(as_pieces(pieces)), axis=1).astype(np.int64)


def pitch_class_histograms(pieces: Pieces) -> np.ndarray:
    """(N, 12): each piece's pitch-class histogram of sounding cells, normalised to sum 1 (the
    zero vector for a piece without notes)."""
    return _normalise_rows(_pitch_class_counts(as_pieces(pieces)))


def _as_features(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, np.float64)
    if f.ndim == 1:
        return f[:, None]
    if f.ndim != 2:
        raise ValueError(f"features must be (N,) or (N, d), got shape {f.shape}")
    return f


def inter_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances of every pair (a[i], b[j]), raveled i-major: (len(a) * len(b),). Features are
    (N,) scalars (absolute difference) or (N, d) vectors (Euclidean)."""
    a, b = _as_features(a), _as_features(b)
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)).ravel()


def intra_distances(features: np.ndarray) -> np.ndarray:
    """Distances of every pair i < j of ``features`` (row-major order): (N (N - 1) / 2,)."""
    f = _as_features(features)
    i, j = np.triu_indices(len(f), k=1)
    return np.sqrt(((f[i] - f[j]) ** 2).sum(axis=-1))


def _degenerate(x: np.ndarray) -> bool:
    return len(x) < 2 or float(np.std(x)) <= 1e-12 * max(1.0, float(np.abs(x).max()))


def scott_bandwidth(data: np.ndarray) -> float:
    """Kernel standard deviation of scipy.stats.gaussian_kde (Scott's rule) for 1-D data:
    std(ddof=1) * n ** (-1/5). Needs >= 2 values."""
    data = np.asarray(data, np.float64).ravel()
    return float(np.std(data, ddof=1) * len(data) ** (-0.2))


def kde_pdf(data: np.ndarray, x: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian KDE of 1-D ``data`` with kernel standard deviation ``bandwidth``, at points x:
    mean over the data of N(x; d, bandwidth**2). Sums over distinct values with counts, in
    cache-sized blocks, skipping values more than 9 bandwidths from a block of points (their
    terms are < exp(-40) of the kernel's peak, below double precision of any nonzero sum)."""
    data = np.asarray(data, np.float64).ravel()
    x = np.asarray(x, np.float64).ravel()
    values, counts = np.unique(data, return_counts=True)
    vs, cs = values / bandwidth, counts.astype(np.float64)
    order = np.argsort(x)
    xs = x[order] / bandwidth
    out = np.zeros(len(x))
    rows, cols = 64, 4096  # (rows, cols) float64 block: 2 MiB
    buf = np.empty((rows, cols))
    for s in range(0, len(xs), rows):
        xc = xs[s : s + rows, None]
        lo, hi = np.searchsorted(vs, [xc[0, 0] - 9.0, xc[-1, 0] + 9.0])
        acc = np.zeros(len(xc))
        for t in range(lo, hi, cols):
            vc = vs[t : min(t + cols, hi)]
            b = buf[: len(xc), : len(vc)]
            np.subtract(xc, vc[None, :], out=b)
            np.square(b, out=b)
            b *= -0.5
            np.exp(b, out=b)
            acc += b @ cs[t : t + len(vc)]
        out[order[s : s + rows]] = acc
    return out / (len(data) * bandwidth * np.sqrt(2 * np.pi))


def overlap_area(intra: np.ndarray, inter: np.ndarray, n_grid: int = 2000) -> float | None:
    """Integral of min(p_intra, p_inter) for the Gaussian KDEs of the two distance sets (Yang &
    Lerch 2018), in [0, 1]. Degenerate sets as in the module docstring; None if either set
    is empty."""
    a = np.asarray(intra, np.float64).ravel()
    b = np.asarray(inter, np.float64).ravel()
    if len(a) == 0 or len(b) == 0:
        return None
    deg_a, deg_b = _degenerate(a), _degenerate(b)
    if deg_a and deg_b:
        ma, mb = float(a.mean()), float(b.mean())
        return 1.0 if abs(ma - mb) <= 1e-9 * max(1.0, abs(ma), abs(mb)) else 0.0
    ha = None if deg_a else scott_bandwidth(a)
    hb = None if deg_b else scott_bandwidth(b)
    ha = hb if ha is None else ha  # a degenerate set borrows the other set's bandwidth
    hb = ha if hb is None else hb
    grid = np.unique(
        np.concatenate(
            [np.linspace(a.min() - 6 * ha, a.max() + 6 * ha, n_grid), np.linspace(b.min() - 6 * hb, b.max() + 6 * hb, n_grid)]
        )
    )
    low = np.minimum(kde_pdf(a, grid, ha), kde_pdf(b, grid, hb))
    return float(np.clip(np.trapezoid(low, grid), 0.0, 1.0))


def overlap_areas(pieces: Pieces, reference: Pieces, max_pieces: int = 200) -> dict[str, float | None]:
    """{'oa_pitch_count', 'oa_pitch_class_hist'} for the first ``max_pieces`` pieces of each
    set; None when the reference has fewer than 2 pieces or ``pieces`` is empty."""
    if max_pieces < 0:
        raise ValueError(f"max_pieces must be >= 0, got {max_pieces}")
    ps = as_pieces(pieces)[:max_pieces]
    ref = as_pieces(reference)[:max_pieces]
    out: dict[str, float | None] = {"oa_pitch_count": None, "oa_pitch_class_hist": None}
    if len(ref) < 2 or not ps:
        return out
    for key, feature in (("oa_pitch_count", pitch_counts), ("oa_pitch_class_hist", pitch_class_histograms)):
        fp, fr = feature(ps), feature(ref)
        out[key] = overlap_area(intra_distances(fr), inter_distances(fp, fr))
    return out


# --- everything ---------------------------------------------------------------------------


def music_sample_metrics(
    pieces: Pieces, reference: Pieces, train: Pieces, frames: int | None = None, max_pieces: int = 200, window: int = 4
) -> dict[str, float | int | None]:
    """{'polyphony', 'pitch_class_tv', 'pitch_range', 'scale_consistency', 'chord_copy_rate',
    'oa_pitch_count', 'oa_pitch_class_hist', 'n_pieces', 'frames_compared'}.

    ``pieces`` is the scored set (samples, or a held-out real split), ``reference`` the test
    pieces, ``train`` the training pieces. With ``frames``, pieces and reference are cut to
    their first ``frames`` frames for everything but chord_copy_rate (whole pieces vs whole
    training pieces). Undefined values are None.
    """
    whole = as_pieces(pieces)
    cut = as_pieces(whole, frames)
    ref = as_pieces(reference, frames)
    out: dict[str, float | int | None] = {
        "polyphony": polyphony(cut),
        "pitch_class_tv": pitch_class_tv(cut, ref),
        "pitch_range": pitch_range(cut),
        "scale_consistency": scale_consistency(cut),
        "chord_copy_rate": chord_copy_rate(whole, train, window),
    }
    out.update(overlap_areas(cut, ref, max_pieces))
    out["n_pieces"] = len(whole)
    out["frames_compared"] = None if frames is None else int(frames)
    return out
