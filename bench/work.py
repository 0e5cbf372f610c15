"""Equal work in bench/denoise.py's steps/s rounds: multiply-accumulates of the convolutions in one training
forward. The same `depth`/`filters` do not make the same network: CAREamics' U-Net (CSBDeep's layout) halves
the channels in the bottleneck and decoder where fluorecon's keeps them, so fluorecon's does ~1.3x the
convolution work per step at depth 2 (measured by this count, reported beside the steps/s). Imported by the
training workers (torch in their own venv)."""


def conv_macs(network, example) -> int:
    """Convolution multiply-accumulates of `network(example)` (one forward pass; backward is ~2x that)."""
    import torch

    total = 0

    def count(module, inputs, output):
        nonlocal total
        k = 1
        for s in module.kernel_size:
            k *= s
        total += output.numel() * (module.in_channels // module.groups) * k

    convs = [m for m in network.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d))]
    hooks = [m.register_forward_hook(count) for m in convs]
    training = network.training
    network.eval()  # batch norm must not update its running statistics on the example
    try:
        with torch.no_grad():
            network(example)
    finally:
        network.train(training)
        for h in hooks:
            h.remove()
    return int(total)
