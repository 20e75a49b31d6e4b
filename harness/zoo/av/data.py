"""Bundled data of the video and audio zoo, made in code with fixed seeds (nothing is downloaded).

Moving digits: each scikit-learn digit (8×8, scaled to [0, 1]) moves across a 16×16 black canvas over 8
frames, from a random start with a random velocity (vx, vy in {-1, 0, 1}, not both 0, bouncing off the
edges); ``TRAJECTORIES`` clips per digit. The train / held-out split is the image zoo's digit split
(``train_test_split(test_size=0.2, stratify=y, random_state=0)``): 2,874 training and 720 held-out clips,
(N, 8, 16, 16) float32 in [0, 1] (frames, height, width).

Notes: 8 classes, the pitches C4 … C5 of the C-major scale. Each note has a random timbre (a mix of a
sine, an odd-harmonic "clarinet" and a 1/k "sawtooth" spectrum, up to 8 harmonics below Nyquist), a
random ADSR envelope, a small detune (±0.1%) and a random level, every harmonic starting in sine phase
(a random phase per note made the raw-waveform diffusion model far slower to learn); 2,048 samples at 8 kHz (0.256 s),
(N, 2048) float32 in [-1, 1]. 200 training and 50 held-out notes per class, from separate seeds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

# ------------------------------------------------------------------------------------------ video
FRAMES = 8
CANVAS = 16
DIGIT = 8
VIDEO_CLASSES = 10
TRAJECTORIES = 2
VIDEO_SEED = 0


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_heldout: np.ndarray
    y_heldout: np.ndarray


def _trajectory(rng: np.random.Generator, frames: int = FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """Integer top-left positions (frames,) of a bouncing 8×8 digit on the canvas."""
    span = CANVAS - DIGIT  # positions 0 … span
    while True:
        vx, vy = rng.integers(-1, 2, size=2)
        if vx or vy:
            break
    x, y = rng.integers(0, span + 1, size=2)
    xs, ys = [], []
    for _ in range(frames):
        xs.append(x)
        ys.append(y)
        if not 0 <= x + vx <= span:
            vx = -vx
        if not 0 <= y + vy <= span:
            vy = -vy
        x, y = x + vx, y + vy
    return np.array(xs), np.array(ys)


def render_clips(digits: np.ndarray, rng: np.random.Generator, per_digit: int = TRAJECTORIES) -> np.ndarray:
    """(N, 8, 8) digits in [0, 1] → (N * per_digit, FRAMES, CANVAS, CANVAS) clips (digit-major order)."""
    out = np.zeros((len(digits) * per_digit, FRAMES, CANVAS, CANVAS), dtype=np.float32)
    k = 0
    for d in digits:
        for _ in range(per_digit):
            xs, ys = _trajectory(rng)
            for f in range(FRAMES):
                out[k, f, ys[f] : ys[f] + DIGIT, xs[f] : xs[f] + DIGIT] = d
            k += 1
    return out


@functools.lru_cache(maxsize=1)
def moving_digits_split() -> Split:
    """The fixed clips every video zoo model and reference statistic uses."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = d.images.astype(np.float32) / 16.0
    y = d.target.astype(np.int64)
    idx = np.arange(len(y))
    tr, ho = train_test_split(idx, test_size=0.2, stratify=y, random_state=0)
    tr, ho = np.sort(tr), np.sort(ho)
    rng = np.random.default_rng(VIDEO_SEED)
    x_tr = render_clips(x[tr], rng)
    x_ho = render_clips(x[ho], rng)
    return Split(x_tr, np.repeat(y[tr], TRAJECTORIES), x_ho, np.repeat(y[ho], TRAJECTORIES))


# ------------------------------------------------------------------------------------------ audio
SAMPLE_RATE = 8000
LENGTH = 2048
NOTE_HZ = (261.63, 293.66, 329.63, 349.23, 392.00, 440.00, 493.88, 523.25)  # C4 D4 E4 F4 G4 A4 B4 C5
NOTE_NAMES = ("C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5")
AUDIO_CLASSES = len(NOTE_HZ)
TRAIN_PER_CLASS = 200
HELDOUT_PER_CLASS = 50
HARMONICS = 8


def _spectra() -> np.ndarray:
    k = np.arange(1, HARMONICS + 1, dtype=np.float64)
    sine = (k == 1).astype(np.float64)
    odd = np.where(k % 2 == 1, 1.0 / k, 0.0)
    saw = 1.0 / k
    return np.stack([sine, odd, saw])


def synth_note(label: int, rng: np.random.Generator) -> np.ndarray:
    """One note of class ``label``: random timbre, ADSR, detune and level → (LENGTH,) in [-1, 1]."""
    t = np.arange(LENGTH, dtype=np.float64) / SAMPLE_RATE
    f0 = NOTE_HZ[label] * (1.0 + rng.uniform(-0.001, 0.001))
    mix = rng.dirichlet(np.ones(3))
    amps = mix @ _spectra()
    wave = np.zeros(LENGTH)
    for k, a in enumerate(amps, start=1):
        if a > 0 and k * f0 < SAMPLE_RATE / 2:
            wave += a * np.sin(2 * np.pi * k * f0 * t)  # phase 0: the note starts in sine phase
    wave /= np.abs(wave).max() + 1e-9
    a_n = int(rng.uniform(0.005, 0.04) * SAMPLE_RATE)
    d_n = int(rng.uniform(0.02, 0.08) * SAMPLE_RATE)
    r_n = int(rng.uniform(0.03, 0.10) * SAMPLE_RATE)
    sustain = rng.uniform(0.3, 0.8)
    s_n = max(0, LENGTH - a_n - d_n - r_n)
    env = np.concatenate(
        [
            np.linspace(0.0, 1.0, a_n, endpoint=False),
            np.linspace(1.0, sustain, d_n, endpoint=False),
            np.full(s_n, sustain),
            np.linspace(sustain, 0.0, r_n),
        ]
    )[:LENGTH]
    env = np.pad(env, (0, LENGTH - len(env)))
    return (rng.uniform(0.5, 0.9) * env * wave).astype(np.float32)


def synth_notes(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(AUDIO_CLASSES), per_class).astype(np.int64)
    return np.stack([synth_note(int(c), rng) for c in labels]), labels


@functools.lru_cache(maxsize=1)
def notes_split() -> Split:
    """1,600 training and 400 held-out notes (N, 2048) float32, from seeds 0 and 1."""
    x_tr, y_tr = synth_notes(TRAIN_PER_CLASS, seed=0)
    x_ho, y_ho = synth_notes(HELDOUT_PER_CLASS, seed=1)
    return Split(x_tr, y_tr, x_ho, y_ho)
