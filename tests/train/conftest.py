"""Training tests share two cores between two test processes: one thread each, or they fight
over both."""

import torch

torch.set_num_threads(1)
