"""Training speed of spiking policies against the MLP baseline, and of the extractor's fused T-step loop.

Part 1, env steps per second, spiking vs MLP, in the same run: for the PPO
recipe of CartPole-v1 and the DQN recipe of MountainCar-v0
(``spikegym/data/agents``) it builds each agent as ``spikegym train`` does
(``spikegym.rl.training.build_model``: the recipe's spiking extractor on the
env's shipped encoder config, or the recipe's MLP on raw observations), warms
it up (PPO: one rollout and update; DQN: its ``learning_starts`` and one
update), then times ``model.learn`` over a few thousand env steps, the
policies taking turns for 5 rounds, and prints the median steps/s and the
median of the rounds' ratios spiking / MLP against the targets of issue 14 (PPO with the
default extractor, T=8: >= 0.5x; the DQN recipe: >= 0.3x). PPO is measured
with the recipe's extractor (64-16) and with ``SpikingExtractor``'s default
layers (64-64).

Part 2, the micro-benchmark: a ``SpikingExtractor`` (hidden 64-64, T=8, 32
input channels, CartPole's population code) run fused
(one linear per layer over all ``T`` sub-steps, event-driven where few inputs
spike, ``spikegym.rl.spike_linear``; the compiled leaky scan and its
backward pass, ``spikegym.rl.leaky_scan``) against the textbook snntorch loop (each
``nn.Linear`` and ``snn.Leaky`` called per sub-step), for a rollout step
(batch 8, no gradient) and a training minibatch (batch 256, forward and
backward), same weights, same outputs (checked first).

torch runs on ``--threads`` threads (default 1: on a shared 2-core machine two
threads made these small networks several times slower). Timings on a busy
machine are noisy; compare the ratios, which are measured in one process.
Run from the repository root::

    python scripts/bench_policy.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import gymnasium as gym
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from spikegym.rl.extractors import SpikingExtractor
from spikegym.rl.recipes import Recipe, load_recipe
from spikegym.rl.training import build_model, make_env, resolve_encoder


@dataclass(frozen=True)
class Workload:
    """One recipe to time: spiking (with ``spiking`` options, ``None``: the recipe's) against its MLP."""

    label: str
    algo: str
    env_id: str
    target: float
    spiking: dict | None = None

    def recipe(self) -> Recipe:
        recipe = load_recipe(self.algo, self.env_id)
        return recipe if self.spiking is None else replace(recipe, spiking=self.spiking)


WORKLOADS = (
    Workload("PPO CartPole-v1, recipe extractor 64-16", "ppo", "CartPole-v1", 0.5),
    Workload("PPO CartPole-v1, default extractor 64-64", "ppo", "CartPole-v1", 0.5, {"hidden": [64, 64]}),
    Workload("DQN MountainCar-v0, recipe extractor 256-256", "dqn", "MountainCar-v0", 0.3),
)


def warm_model(recipe: Recipe, spiking: bool, seed: int = 0) -> BaseAlgorithm:
    """The agent as ``spikegym train`` builds it, past its first update (and, off-policy, its ``learning_starts``)."""
    config = resolve_encoder(recipe.env_id, None) if spiking else None
    model = build_model(recipe, make_env(recipe.env_id, recipe.n_envs, seed, config), seed, spiking=spiking)
    rollout = recipe.n_envs * int(recipe.algo_kwargs.get("n_steps", 1))
    first_update = int(recipe.algo_kwargs.get("learning_starts", 0)) + int(recipe.algo_kwargs.get("train_freq", 1))
    model.learn(max(rollout, first_update + recipe.n_envs), progress_bar=False)
    return model


def steps_per_second(model: BaseAlgorithm, steps: int) -> float:
    before, start = model.num_timesteps, time.perf_counter()
    model.learn(steps, reset_num_timesteps=False, progress_bar=False)
    return (model.num_timesteps - before) / (time.perf_counter() - start)


def compare(workload: Workload, steps: int, repeats: int) -> tuple[float, float, float]:
    """Median env steps/s of the spiking agent and of the MLP, timed in turns, and the median of the rounds'
    ratios spiking / MLP (this machine runs in slow and fast phases of a few seconds: a round's two timings are
    close in time, the medians of all rounds need not be)."""
    recipe = workload.recipe()
    models = {"spiking": warm_model(recipe, True), "mlp": warm_model(recipe, False)}
    rates: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            rates[name].append(steps_per_second(model, steps))
    for model in models.values():
        model.get_env().close()
    ratio = statistics.median(s / m for s, m in zip(rates["spiking"], rates["mlp"], strict=True))
    return statistics.median(rates["spiking"]), statistics.median(rates["mlp"]), ratio


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


def micro_benchmark(repeats: int) -> None:
    torch.manual_seed(0)
    extractor = SpikingExtractor(gym.spaces.MultiBinary((8, 32)), hidden=(64, 64))
    print("\nSpikingExtractor hidden 64-64, T=8, 32 input channels: fused scan vs snntorch modules stepped")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few hundred env steps, fewer repeats (a smoke test)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--steps", type=int, help="env steps timed per round (default 4096; --quick 256)")
    args = parser.parse_args()
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    torch.set_num_threads(args.threads)
    steps = args.steps or (256 if args.quick else 4096)
    repeats = 1 if args.quick else 5
    print(f"env steps/s, spiking vs MLP, {steps} steps x {repeats} rounds in turns; torch threads {args.threads}")
    print(f"{'recipe':<46}| {'spiking':>8} | {'MLP':>8} | ratio | target")
    for workload in WORKLOADS:
        spiking, mlp, ratio = compare(workload, steps, repeats)
        verdict = "met" if ratio >= workload.target else "not met"
        print(f"{workload.label:<46}| {spiking:>8.0f} | {mlp:>8.0f} | {ratio:.2f}x | >= {workload.target}x {verdict}")
    micro_benchmark(20 if args.quick else 200)


if __name__ == "__main__":
    main()
