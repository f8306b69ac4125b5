"""The array library the Monte Carlo revaluation runs on: NumPy, or CuPy / PyTorch on a GPU.

:func:`select_backend` picks CuPy, then PyTorch, when ``want_gpu`` is true, the process sees a
CUDA device and the library imports; otherwise NumPy. Random numbers are always drawn on the
CPU with NumPy (one seed per block), so a GPU run revalues exactly the same scenarios and gives
the same figures within floating-point tolerance. GPU libraries are optional extras
(``pip install cupy-cuda12x`` or ``pip install torch``); nothing here imports them unless asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Backend:
    """An array namespace ``xp`` and the few extras the pricing code needs."""

    name: str  # numpy | cupy | torch
    xp: Any
    ndtr: Callable[[Any], Any]  # standard normal CDF
    device: str = "cpu"

    def asarray(self, a: np.ndarray) -> Any:
        """Move a NumPy array to this backend (float64 kept)."""
        if self.name == "torch":
            return self.xp.as_tensor(a, device=self.device)
        return self.xp.asarray(a)

    def to_numpy(self, a: Any) -> np.ndarray:
        """Bring an array back to host NumPy."""
        if self.name == "cupy":
            return a.get()
        if self.name == "torch":
            return a.detach().cpu().numpy()
        return np.asarray(a)

    def concat(self, arrays: list[Any], axis: int) -> Any:
        """Concatenate along ``axis``."""
        if self.name == "torch":
            return self.xp.cat(arrays, dim=axis)
        return self.xp.concatenate(arrays, axis=axis)

    def zeros(self, shape: tuple[int, ...]) -> Any:
        """A float64 array of zeros."""
        if self.name == "torch":
            return self.xp.zeros(shape, dtype=self.xp.float64, device=self.device)
        return self.xp.zeros(shape)


def numpy_backend() -> Backend:
    """The CPU backend."""
    from scipy.special import ndtr

    return Backend("numpy", np, ndtr)


def _cupy() -> Backend | None:
    try:
        import cupy
        from cupyx.scipy.special import ndtr

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
    except Exception:  # import errors, missing driver, no device
        return None
    return Backend("cupy", cupy, ndtr, "cuda")


def _torch() -> Backend | None:
    try:
        import torch

        if not torch.cuda.is_available():
            return None
    except Exception:
        return None
    return Backend("torch", torch, torch.special.ndtr, "cuda")


def select_backend(want_gpu: bool) -> Backend:
    """CuPy or PyTorch on the GPU when wanted and usable, else NumPy."""
    if want_gpu:
        for probe in (_cupy, _torch):
            found = probe()
            if found is not None:
                return found
    return numpy_backend()


def cluster_has_gpu() -> bool:
    """Whether Ray is initialised and its cluster reports at least one GPU."""
    try:
        import ray

        return ray.is_initialized() and ray.cluster_resources().get("GPU", 0) >= 1
    except Exception:
        return False


def gpu_name() -> str | None:
    """The first CUDA device's name, when a GPU library can see one."""
    b = select_backend(True)
    if b.name == "cupy":
        props = b.xp.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    if b.name == "torch":
        return str(b.xp.cuda.get_device_name(0))
    return None
