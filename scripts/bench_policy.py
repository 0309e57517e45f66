"""Speed of the spiking extractor's T-step loop, the hot path of training, against stepping snntorch modules.

For a ``SpikingExtractor`` (hidden 64-64, T=8, 32 input channels, CartPole's
shipped population code) it times, with the same weights and in the same run:

* the extractor's fused loop (``spikegym.rl.extractors.leaky_layer``: one linear
  per layer over all ``T`` sub-steps, then the leaky integrate-and-fire
  recurrence with no module state);
* the textbook snntorch loop: for each sub-step, each ``nn.Linear`` and
  ``snn.Leaky`` called in turn with its membrane passed along;

for a rollout step (batch 8, no gradient) and a training minibatch (batch
256, forward and backward), as the median of repeated calls, and prints the
ratio. Both give the same outputs (checked first). Run from the repository root::

    python scripts/bench_policy.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import torch

from spikegym.rl.extractors import SpikingExtractor


def stepped(extractor: SpikingExtractor, blocks: torch.Tensor) -> torch.Tensor:
    """The extractor's output computed the textbook way: sub-step by sub-step, module by module."""
    membranes = [torch.zeros(blocks.shape[0], layer.out_features) for layer in extractor.layers]
    trace = []
    for t in range(blocks.shape[1]):
        x = blocks[:, t]
        for i, (layer, neuron) in enumerate(zip(extractor.layers, extractor.neurons, strict=True)):
            x, membranes[i] = neuron(layer(x), membranes[i])
        trace.append(membranes[-1])
    return torch.stack(trace, 1).mean(1)


def median_ms(call: Callable[[], object], repeats: int) -> float:
    for _ in range(3):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 20 if args.quick else 200
    torch.manual_seed(0)
    extractor = SpikingExtractor(gym.spaces.MultiBinary((8, 32)), hidden=(64, 64))
    print(f"SpikingExtractor hidden 64-64, T=8, 32 input channels; torch threads {torch.get_num_threads()}")
    print(f"{'workload':<34}| {'fused ms':>9} | {'stepped ms':>10} | speedup")
    for name, batch, grad in (("rollout step (B=8, no grad)", 8, False), ("minibatch (B=256, fwd+bwd)", 256, True)):
        blocks = (torch.rand(batch, 8, 32) < 0.1).float()
        with torch.no_grad():
            assert torch.allclose(extractor(blocks), stepped(extractor, blocks), atol=1e-5)

        def run(
            function: Callable[[SpikingExtractor, torch.Tensor], torch.Tensor],
            grad: bool = grad,
            blocks: torch.Tensor = blocks,
        ) -> None:
            if grad:
                function(extractor, blocks).sum().backward()
            else:
                with torch.no_grad():
                    function(extractor, blocks)

        fused = median_ms(lambda: run(SpikingExtractor.forward), repeats)
        textbook = median_ms(lambda: run(stepped), repeats)
        print(f"{name:<34}| {fused:>9.3f} | {textbook:>10.3f} | {textbook / fused:>6.1f}x")


if __name__ == "__main__":
    main()
