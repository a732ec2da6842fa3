"""Shared test settings: one thread, float64 where tests ask for it."""

import torch

torch.set_num_threads(1)
