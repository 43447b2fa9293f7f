"""The paper's EEG-EMG model: three stacked LSTMs (128, 64, 32 units) and a linear head.

Shi et al. 2025, section 2.6.1.  braindecode vocabulary: input
``(batch, n_chans, n_times)``, parameters ``n_chans``, ``n_times``, ``sfreq``,
``n_outputs``.
"""

from __future__ import annotations

import torch
from torch import nn

from rehab_core._validation import check_int, check_positive, check_range

__all__ = ["PAPER_HIDDEN_SIZES", "LSTMClassifier"]

PAPER_HIDDEN_SIZES: tuple[int, ...] = (128, 64, 32)


class LSTMClassifier(nn.Module):
    """Stacked LSTMs read a window sample by sample; the last hidden state is classified.

    Parameters
    ----------
    n_chans : int
        Number of input channels (22: the paper's 16 EEG + 6 EMG).
    n_outputs : int
        Number of logits (1: the logit of a good outcome).
    n_times : int or None
        Samples per window; when given, inputs of another length are refused
        (a guard against a wrong sampling rate).  ``None`` accepts any length.
    sfreq : float or None
        Sampling frequency of the windows in Hz, kept for the record.
    hidden_sizes : tuple of int
        Units of each LSTM layer; the paper's ``(128, 64, 32)``.
    drop_rate : float
        Dropout probability on each LSTM layer's output (between layers and
        before the head).  The paper reports no dropout, hence 0; set it > 0
        for Monte-Carlo-dropout uncertainty.

    Notes
    -----
    The layers are separate ``nn.LSTM`` modules (``self.lstm[i]``) because
    their sizes differ.  The features are the last time step's hidden state
    of the last layer, ``(batch, hidden_sizes[-1])`` -- the many-to-one
    reading of a stacked LSTM (Keras ``return_sequences=False``), which is
    what "a fully connected layer at the final stage" describes; a mean over
    time would weight the start of a 10-s window as much as its end, which an
    LSTM's state already summarises.
    """

    def __init__(
        self,
        n_chans: int = 22,
        n_outputs: int = 1,
        *,
        n_times: int | None = None,
        sfreq: float | None = None,
        hidden_sizes: tuple[int, ...] = PAPER_HIDDEN_SIZES,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        check_int("n_chans", n_chans, low=1)
        check_int("n_outputs", n_outputs, low=1)
        if n_times is not None:
            check_int("n_times", n_times, low=1)
        if sfreq is not None:
            check_positive("sfreq", sfreq)
        if not hidden_sizes:
            raise ValueError(
                f"{hidden_sizes=} must be a non-empty tuple of positive whole numbers."
            )
        for h in hidden_sizes:
            check_int("hidden_sizes", h, low=1)
        check_range("drop_rate", drop_rate, 0.0, 1.0)
        self.n_chans = n_chans
        self.n_outputs = n_outputs
        self.num_classes = n_outputs  # timm's name, so explainers can read either
        self.n_times = n_times
        self.sfreq = None if sfreq is None else float(sfreq)
        self.hidden_sizes = tuple(hidden_sizes)
        self.drop_rate = drop_rate
        self.num_features = self.hidden_sizes[-1]
        sizes = (n_chans, *self.hidden_sizes)
        self.lstm = nn.ModuleList(
            nn.LSTM(n_in, n_out, batch_first=True)
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(self.num_features, n_outputs)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, n_chans, n_times)`` windows to ``(batch, hidden_sizes[-1])`` last states."""
        if x.ndim != 3:
            raise ValueError(
                f"The input has shape {tuple(x.shape)}; expected (batch, n_chans, n_times) windows."
            )
        n_chans, n_times = self.n_chans, self.n_times
        if x.shape[1] != n_chans:
            raise ValueError(f"{n_chans=} but the input has {x.shape[1]} channels.")
        if n_times is not None and x.shape[2] != n_times:
            raise ValueError(f"{n_times=} but the input has {x.shape[2]} samples per window.")
        h = x.transpose(1, 2)  # (batch, n_times, n_chans): batch_first LSTM order
        for i, layer in enumerate(self.lstm):
            h, _ = layer(h if i == 0 else self.drop(h))
        return h[:, -1, :]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``(batch, hidden_sizes[-1])`` features to ``(batch, n_outputs)`` logits (dropout first).

        With ``pre_logits=True`` the features after dropout are returned.
        """
        x = self.drop(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
