"""Continuous on-device learning: acting and learning interleave on one chip, with no offline phase.

Every environment step the agent acts (batch-1 inference on the chip when its network decides),
the environment steps, the transition is stored, and when due the target network is refreshed and
a burst of gradient steps runs. Snapshots of ``acc.counts`` around each part separate inference
from training, and ``energy.EnergyModel`` prices each: per training step (cycles, joules, power)
and per episode (inference and training joules). When the environment is wrapped in
``envs.EnergyBudget``, the energy of each step (the action's inference and the learning since the
previous step) is charged to the device's battery before the step, so the chip's efficiency
decides how long the device can keep learning.

Without a chip (the fp32 reference) the same loop runs and no energy is counted.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from accel import Accelerator, EventCounts
from energy import EnergyModel, EnergyReport
from envs import EnergyBudget, find_wrapper


class Diverged(RuntimeError):
    """Training produced a NaN or infinite loss; the run stops (its logs are kept)."""


@dataclass(frozen=True, slots=True)
class TrainStepRecord:
    """One gradient step."""

    train_step: int
    env_step: int
    loss: float
    counts: EventCounts
    report: EnergyReport


@dataclass(frozen=True, slots=True)
class EpisodeRecord:
    """One finished episode of learning."""

    episode: int
    env_steps: int
    episode_return: float
    length: int
    train_steps: int
    inference: EventCounts
    training: EventCounts
    inference_report: EnergyReport
    training_report: EnergyReport
    phase: str | None = None
    """``info["phase"]`` of the episode's steps (a drifting task's dynamics); ``"A>B"`` when it changed from
    ``A`` to ``B`` during the episode; None if the env gives none."""


@dataclass(frozen=True, slots=True)
class LearnTotals:
    """What a whole ``learn`` call cost, split between acting and learning."""

    inference: EventCounts
    training: EventCounts


class Meter:
    """Measures spans of the chip's work: counts from snapshots of ``acc.counts``, priced by ``energy``.
    Without a chip every span is empty."""

    def __init__(self, accelerator: Accelerator | None) -> None:
        self.accelerator = accelerator
        self.model = EnergyModel(accelerator.config) if accelerator is not None else None

    def now(self) -> EventCounts:
        return self.accelerator.counts if self.accelerator is not None else EventCounts()

    def price(self, counts: EventCounts) -> EnergyReport:
        return self.model.estimate(counts) if self.model is not None else EnergyReport()


def learn(agent, env: gym.Env, steps: int, seed: int, meter: Meter,
          on_train_step: Callable[[TrainStepRecord], None] = lambda record: None,
          on_episode: Callable[[EpisodeRecord], None] = lambda record: None,
          on_env_step: Callable[[int, float, dict], None] = lambda step, reward, info: None) -> LearnTotals:
    """Runs ``steps`` environment steps of continuous learning.

    Args:
        agent: A ``DQN`` or ``TD3``.
        env: The environment (optionally wrapped in ``envs.EnergyBudget``).
        steps: Environment steps.
        seed: Seeds the environment's first reset and its action space.
        meter: Measures the chip (``Meter(None)`` for the fp32 reference).
        on_train_step: Called after each gradient step.
        on_episode: Called after each finished episode.
        on_env_step: Called after each environment step with the number of steps done, the step's
            reward and the env's ``info``.

    Returns:
        The counts of all inference and of all learning (replay writes, target updates, gradient steps).

    Raises:
        Diverged: A gradient step's loss was NaN or infinite.
    """
    battery = _battery(env)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    episode, episode_return, length, first_train_step = 0, 0.0, 0, agent.train_steps
    first_phase = None
    inference, training = EventCounts(), EventCounts()
    inference_j, training_j = EnergyReport(), EnergyReport()
    owed_j = 0.0  # learning energy since the last step, charged with the next one
    origin, inferred = meter.now(), EventCounts()
    for step in range(steps):
        before = meter.now()
        action = agent.act(obs, step)
        acted = meter.now() - before
        inferred += acted
        acted_report = meter.price(acted)
        if battery is not None:
            battery.charge(owed_j + acted_report.energy_j)
        next_obs, reward, terminated, truncated, info = env.step(action)
        before = meter.now()
        agent.store(obs, action, float(reward), next_obs, bool(terminated))
        if agent.target_update_due(step + 1):
            agent.update_target()
        for _ in range(agent.gradient_steps_due(step + 1)):
            start = meter.now()
            loss = agent.train_step()
            counts = meter.now() - start
            on_train_step(TrainStepRecord(agent.train_steps, step + 1, loss, counts, meter.price(counts)))
            if not math.isfinite(loss):
                raise Diverged(f"training diverged at gradient step {agent.train_steps} (env step {step + 1}): "
                               f"loss {loss}")
        learned = meter.now() - before
        learned_report = meter.price(learned)
        owed_j = learned_report.energy_j
        inference, training = inference + acted, training + learned
        inference_j, training_j = inference_j + acted_report, training_j + learned_report
        episode_return += float(reward)
        length += 1
        first_phase = info.get("phase") if length == 1 else first_phase
        obs = next_obs
        if terminated or truncated:
            episode += 1
            on_episode(EpisodeRecord(episode, step + 1, episode_return, length, agent.train_steps - first_train_step,
                                     inference, training, inference_j, training_j,
                                     _phase(first_phase, info.get("phase"))))
            obs, _ = env.reset()
            episode_return, length, first_train_step = 0.0, 0, agent.train_steps
            inference, training = EventCounts(), EventCounts()
            inference_j, training_j = EnergyReport(), EnergyReport()
        on_env_step(step + 1, float(reward), info)
    return LearnTotals(inferred, meter.now() - origin - inferred)


def _phase(first, last) -> str | None:
    """An episode's phase: its steps' phase, ``"first>last"`` if it changed, None where the env names none."""
    if first is None or last is None:
        return None
    return str(last) if first == last else f"{first}>{last}"


def _battery(env: gym.Env) -> EnergyBudget | None:
    """The ``EnergyBudget`` wrapping ``env``, if any."""
    try:
        return find_wrapper(env, EnergyBudget)
    except ValueError:
        return None


def evaluate(agent, env: gym.Env, episodes: int, seed: int, meter: Meter) -> tuple[list[float], EnergyReport]:
    """Returns of ``episodes`` episodes of the deterministic policy (on the chip, when there is
    one) and the energy of its inference."""
    returns: list[float] = []
    before = meter.now()
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.predict(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns, meter.price(meter.now() - before)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and (population) standard deviation; NaN for no values."""
    if not values:
        return math.nan, math.nan
    return float(np.mean(values)), float(np.std(values))
