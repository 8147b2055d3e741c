"""Suite-wide: one torch thread in the test process. The tests' tensors are tiny, so a second thread buys nothing,
and on a shared 2-core machine OpenMP's spin-waiting against other busy processes multiplies the time (measured
beside one other busy process: tests/models/test_fasrnet_head.py 8.8 s with one thread, 23 s with torch's default
of two). Tests that compare with a subprocess pin its thread count themselves (FASRNET_THREADS=1)."""

import torch

torch.set_num_threads(1)
