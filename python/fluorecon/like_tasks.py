"""`train <task> --like`: which task module fits which model. Apart from fluorecon.train_like (the fit every
task shares, which each task's ``like`` module builds on), so that the shared fit does not import the tasks."""

from __future__ import annotations


def train_like_for(task: str, *args, **kwargs):
    """``train_like`` of `task` (denoise, deconvolve or upsample): (card, onnx path, LikeFit)."""
    if task == "denoise":
        from fluorecon.tasks.denoise.like import train_like
    elif task == "deconvolve":
        from fluorecon.tasks.deconvolve.like import train_like
    elif task == "upsample":
        from fluorecon.tasks.upsample.like import train_like
    else:
        raise ValueError(f"--like fits denoise, deconvolve or upsample models; got {task!r}.")
    return train_like(*args, **kwargs)
