"""Settings of the EEG-EMG preprocessing (Shi et al. 2025, Methods 2.5)."""

from __future__ import annotations

from dataclasses import dataclass

from rehab_core._config import Settings
from rehab_core._validation import check_int, check_option, check_positive, check_range

__all__ = ["BAD_CHANNEL_POLICIES", "SIGNAL_REPRESENTATIONS", "SignalSettings"]

#: What happens to a channel found bad: ``"zero"`` (flat zeros + flag), ``"mean"`` (the mean
#: of the good channels of the same type + flag) or ``"keep"`` (left as is, only flagged).
BAD_CHANNEL_POLICIES = ("zero", "mean", "keep")

#: What the windows hold: ``"raw"`` (the paper: z-scored samples) or ``"envelope"``
#: (per-frame log envelopes of the z-scored samples, :mod:`rehab_core.signals.envelopes`).
SIGNAL_REPRESENTATIONS = ("raw", "envelope")


@dataclass(frozen=True)
class SignalSettings(Settings):
    """Every parameter of :func:`rehab_core.signals.preprocess_signals`.

    The paper states only "a 150 Hz bandpass filter ... followed by artifact
    removal", "non-overlapping 10-s windows" and "zero mean and unit variance"
    per window; everything else below is our choice, justified here.

    Parameters
    ----------
    l_freq : float
        High-pass edge in Hz (default 0.5). Removes electrode drift and slow
        sweat potentials while keeping delta-band EEG and the slow
        movement-related cortical potentials of a ~2 s flexion/extension cycle.
    h_freq : float
        Low-pass edge in Hz (default 150, the paper's "150 Hz"). Keeps the
        bulk of surface-EMG power (20-150 Hz) and EEG gamma.
    filter_order : int
        Order of the Butterworth band-pass (default 4). It is run forwards and
        backwards (``scipy.signal.sosfiltfilt``): zero phase, so no lag between
        EEG and EMG, effective order 8 and -6 dB at each edge. A Butterworth
        IIR in second-order sections is maximally flat in the pass band,
        numerically stable, and filters a 22-channel 9-min 1000 Hz recording
        in well under a second; a linear-phase FIR with a 0.5 Hz edge would
        need a ~6.6 s (6,600-tap) kernel for the same job.
    max_h_freq_fraction : float
        The low-pass edge is clamped to this fraction of the Nyquist frequency
        (default 0.9) for recordings sampled too slowly for ``h_freq``, for
        example 150 Hz becomes 112.5 Hz at 250 Hz; the used edge is recorded
        in the result's QC. At 500 Hz and 1000 Hz no clamping happens.
    line_freq : float
        Mains frequency in Hz, 50 (default, China/Europe) or 60.
    notch : bool
        Whether to notch the mains frequency and all its harmonics below
        Nyquist (default True).
    notch_width : float
        -3 dB width of each notch in Hz (default 2), i.e. ``Q = f0 / width``.
    flat_std_uv : float
        A channel whose robust standard deviation (1.4826 x median absolute
        deviation) after filtering is below this many µV is "flat" (default
        0.5 µV: below the noise floor of any connected EEG or surface-EMG
        electrode).
    noisy_z : float
        A channel is "noisy" when the robust z-score of its log robust
        standard deviation, or of its high-frequency ratio (robust std above
        50 Hz / below 50 Hz), among the other channels of the same type
        exceeds this value (default 5, as in the PREP pipeline). Needs at
        least three channels of a type.
    bad_channel_policy : {"zero", "mean", "keep"}
        What replaces a bad channel so that the model input keeps its
        ``n_chans`` (default "zero"). Spherical-spline interpolation needs
        electrode positions and dense neighbours; the paper's 16 sites are
        sparse and EMG channels have no spatial neighbours at all. Zeros
        (which stay zero after the per-window z-score) act like channel
        dropout and invent no signal; "mean" copies the average of the good
        channels of the same type, which is smoother but fabricated.
    eeg_reject_ptp_uv, emg_reject_ptp_uv : float
        A window is rejected when the peak-to-peak amplitude of any good
        channel exceeds the limit for its type, measured on the filtered data
        (defaults 200 µV for EEG: blinks, electrode pops and head movement;
        5000 µV for EMG: above the largest voluntary surface-EMG bursts, so
        only saturation and cable movement).
    flat_ptp_uv : float
        A window is rejected when any good channel's peak-to-peak amplitude
        in the unfiltered data (offset and drift included, so any live
        electrode exceeds it) is below this many µV (default 1 µV: a
        flat-lined or disconnected channel).
    window_s : float
        Window length in seconds (default 10, the paper's). Windows do not
        overlap and the remainder at the end is dropped.
    resample_sfreq : float or None
        Output rate of the windows in Hz (default 250), or ``None`` to keep
        the recording's rate. The LSTM's cost grows linearly with
        ``n_times``; 250 Hz gives 2,500 steps per 10-s window instead of
        10,000. Its anti-aliasing filter (``scipy.signal.resample_poly``,
        Kaiser window) removes content above ~0.9 x 125 Hz, so at 250 Hz the
        windows carry 0.5-~113 Hz, not the full 150 Hz band; set 500 to keep it.
    zscore_min_std_uv : float
        A channel whose standard deviation within a window is below this many
        µV is set to zeros instead of being divided by (almost) nothing
        (default 1e-3 µV).
    representation : {"raw", "envelope"}
        What the windows hold (default "raw", the paper's z-scored samples).
        "envelope" adds one step: each z-scored window becomes per-frame log
        envelopes (EEG beta power relative to the window, EMG linear
        envelope; :func:`rehab_core.signals.envelopes.envelope_features`), and
        the result's ``sfreq`` becomes the frame rate. ``rehab train`` uses it
        by default because the paper's LSTM learns from it and not from raw
        samples on a cohort of this size (see that module).
    envelope_frame_s : float
        Frame length of the "envelope" representation in seconds (default 0.4).
    envelope_eeg_band : (float, float)
        EEG band of the "envelope" representation in Hz (default 15-30, beta).
    """

    l_freq: float = 0.5
    h_freq: float = 150.0
    filter_order: int = 4
    max_h_freq_fraction: float = 0.9
    line_freq: float = 50.0
    notch: bool = True
    notch_width: float = 2.0
    flat_std_uv: float = 0.5
    noisy_z: float = 5.0
    bad_channel_policy: str = "zero"
    eeg_reject_ptp_uv: float = 200.0
    emg_reject_ptp_uv: float = 5000.0
    flat_ptp_uv: float = 1.0
    window_s: float = 10.0
    resample_sfreq: float | None = 250.0
    zscore_min_std_uv: float = 1e-3
    representation: str = "raw"
    envelope_frame_s: float = 0.4
    envelope_eeg_band: tuple[float, float] = (15.0, 30.0)

    def __post_init__(self) -> None:
        check_positive("l_freq", self.l_freq)
        check_positive("h_freq", self.h_freq)
        if self.l_freq >= self.h_freq:
            raise ValueError(f"l_freq={self.l_freq} must be below h_freq={self.h_freq}.")
        check_int("filter_order", self.filter_order, low=1, high=10)
        check_range("max_h_freq_fraction", self.max_h_freq_fraction, 0.1, 0.99)
        check_option("line_freq", self.line_freq, (50, 60))
        check_option("notch", self.notch, (True, False))
        check_positive("notch_width", self.notch_width)
        check_positive("flat_std_uv", self.flat_std_uv, strict=False)
        check_positive("noisy_z", self.noisy_z)
        check_option("bad_channel_policy", self.bad_channel_policy, BAD_CHANNEL_POLICIES)
        check_positive("eeg_reject_ptp_uv", self.eeg_reject_ptp_uv)
        check_positive("emg_reject_ptp_uv", self.emg_reject_ptp_uv)
        check_positive("flat_ptp_uv", self.flat_ptp_uv, strict=False)
        check_positive("window_s", self.window_s)
        if self.resample_sfreq is not None:
            check_positive("resample_sfreq", self.resample_sfreq)
        check_positive("zscore_min_std_uv", self.zscore_min_std_uv, strict=False)
        check_option("representation", self.representation, SIGNAL_REPRESENTATIONS)
        check_positive("envelope_frame_s", self.envelope_frame_s)
        band = tuple(float(v) for v in self.envelope_eeg_band)
        if len(band) != 2 or not 0 < band[0] < band[1]:
            raise ValueError(
                f"envelope_eeg_band={self.envelope_eeg_band!r} must be (low, high) in Hz "
                "with 0 < low < high."
            )
        object.__setattr__(self, "envelope_eeg_band", band)
