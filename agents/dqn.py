"""DQN (Mnih et al. 2015) with Stable-Baselines3's semantics, learning on the chip or in torch fp32.

Reads top to bottom: the networks, then acting (ε-greedy, batch 1 on the chip), storing a
transition, the periodic hard copy of the target network (every ``target_update_interval``
*environment* steps, as SB3 counts them), and one gradient step: sample, the TD target from the
target network (or, with ``double_q``, the online network's choice valued by the target
network), the Huber loss, backward, clipped Adam. The loop (``agents.loop``) decides when to
call what and measures each on the chip.
"""

import gymnasium as gym
import numpy as np
import torch

from accel import Accelerator
from accel.workload import loss_role
from agents import ops
from agents.dueling import DuelingQ
from agents.linear import accelerate, forward, has_master_weights, mlp
from agents.observations import field_scales, scaled
from agents.optim import Optimizer, update_target
from agents.prune import Pruner
from agents.replay import ReplayMemory, replay_compression
from agents.settings import DQNSettings
from agents.workloads import dqn_workloads


class DQN:
    """A DQN agent for a ``Box`` observation space and a ``Discrete`` action space.

    Args:
        observation_space: The environment's observations (a flat ``Box``).
        action_space: The environment's actions (``Discrete``).
        settings: Hyperparameters (RL Zoo CartPole-v1 by default).
        accelerator: The chip the agent learns on; None: torch fp32, the reference.
        seed: Seeds the networks' initial weights, exploration and replay sampling.
        total_steps: Environment steps of the run (the ε schedule is a fraction of it).
        replay_limit_bytes: Bytes the replay memory may take (a chip's replay SRAM); None: unbounded.

    Raises:
        ValueError: Spaces the agent cannot drive, or a replay memory over its bytes.
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, settings: DQNSettings | None = None,
                 accelerator: Accelerator | None = None, seed: int = 0, total_steps: int = 50_000,
                 replay_limit_bytes: int | None = None) -> None:
        if not isinstance(action_space, gym.spaces.Discrete):
            raise ValueError(f"dqn needs a Discrete action space, got {action_space}; use td3 or ddpg for Box actions")
        if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f"dqn needs a flat Box observation space, got {observation_space}")
        settings = DQNSettings() if settings is None else settings
        self.settings, self.accelerator, self.total_steps = settings, accelerator, total_steps
        self.n_actions, obs_dim = int(action_space.n), observation_space.shape[0]
        self.obs_scales = field_scales(observation_space, settings.obs_scale)
        """What each observation field is multiplied by before the network sees it (None: nothing)."""
        self.rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        trunk = [obs_dim, *settings.hidden]
        self.q, self.q_target = (DuelingQ(trunk, self.n_actions) if settings.dueling else mlp([*trunk, self.n_actions])
                                 for _ in range(2))
        self.q_target.load_state_dict(self.q.state_dict())
        if accelerator is not None:
            self.q, self.q_target = (net.on_chip(accelerator, name, settings.q_readout) if settings.dueling
                                     else accelerate(net, accelerator, name, settings.q_readout)
                                     for net, name in ((self.q, "q"), (self.q_target, "q_target")))
        self.q_target.requires_grad_(False)
        self.optimizer = Optimizer(self.q.parameters(), settings.optimizer, settings.learning_rate, accelerator,
                                   settings.max_grad_norm, settings.momentum, settings.adam_eps, settings.loss_scale)
        self.pruner = Pruner(settings, [self.q], accelerator)
        self.replay = ReplayMemory(settings.buffer_size, obs_dim, 1, settings.replay_format,
                                   discrete_actions=self.n_actions, limit_bytes=replay_limit_bytes,
                                   compression=replay_compression(accelerator))
        self.workloads = dqn_workloads(settings, obs_dim, self.n_actions, has_master_weights(accelerator))
        """The chip operations of each of its steps (``agents.workloads``)."""
        self.train_steps = 0

    def exploration_rate(self, step: int) -> float:
        """ε after ``step`` environment steps: linear from initial to final over the first fraction of the run."""
        s = self.settings
        progress = step / self.total_steps
        if progress >= s.exploration_fraction:
            return s.exploration_final_eps
        return s.exploration_initial_eps + progress * (s.exploration_final_eps - s.exploration_initial_eps) / (
            s.exploration_fraction)

    # --- acting ----------------------------------------------------------------------------------

    def act(self, obs: np.ndarray, step: int) -> int:
        """The action to take at environment step ``step``: random before ``learning_starts`` and
        with probability ε (no inference then), else greedy."""
        if step < self.settings.learning_starts or self.rng.random() < self.exploration_rate(step):
            return int(self.rng.integers(self.n_actions))
        return self.predict(obs)

    def predict(self, obs: np.ndarray) -> int:
        """The greedy action (batch-1 inference; on the chip, the comparisons too; a dueling network
        compares its advantages)."""
        with torch.no_grad():
            x = torch.as_tensor(scaled(obs, self.obs_scales), dtype=torch.float32).reshape(1, -1)
            q = self.q.advantages(x, "obs") if self.settings.dueling else forward(self.q, x, "obs")
            return int(ops.column_max(q, self.accelerator, self.settings.q_readout)[1][0])

    # --- remembering -----------------------------------------------------------------------------

    def store(self, obs, action: int, reward: float, next_obs, terminated: bool) -> None:
        """Keeps a transition (its write counted as replay traffic on the chip)."""
        stored = self.replay.add(scaled(obs, self.obs_scales), action, reward, scaled(next_obs, self.obs_scales),
                                 terminated)
        if self.accelerator is not None:
            self.accelerator.replay(write_bytes=self.replay.bytes_per_transition, stored=(0, stored))

    def target_update_due(self, step: int) -> bool:
        """Whether the target network is refreshed after environment step ``step`` (counted from 1)."""
        return step % self.settings.target_update_interval == 0

    def update_target(self) -> None:
        """Copies (or, with τ < 1, averages) the online network into the target network."""
        update_target(self.q_target, self.q, self.settings.tau, self.accelerator)

    def gradient_steps_due(self, step: int) -> int:
        """Gradient steps to take after environment step ``step`` (counted from 1)."""
        s = self.settings
        return s.gradient_steps if step % s.train_freq == 0 and step > s.learning_starts else 0

    # --- learning --------------------------------------------------------------------------------

    def train_step(self) -> float:
        """One gradient step on a sampled batch. Returns the loss."""
        s, acc = self.settings, self.accelerator
        batch = self.replay.sample(s.batch_size, self.rng)
        if acc is not None:
            acc.replay(read_bytes=s.batch_size * self.replay.bytes_per_transition,
                       stored=(self.replay.sampled_bytes, 0))
        next_obs = torch.from_numpy(batch.next_observations)
        with torch.no_grad():
            if s.double_q:
                _, best = ops.column_max(forward(self.q, next_obs, "s_next"), acc, s.q_readout)
                next_q = forward(self.q_target, next_obs, "s_next").gather(1, best[:, None])[:, 0]
            else:
                next_q, _ = ops.column_max(forward(self.q_target, next_obs, "s_next"), acc, s.q_readout)
            target = ops.td_target(batch.rewards, batch.dones, next_q, s.gamma, acc, s.q_readout)
        q = forward(self.q, torch.from_numpy(batch.observations), "s")
        chosen = q.gather(1, torch.from_numpy(batch.actions.astype(np.int64)))[:, 0]
        self.optimizer.zero_grad()
        loss = ops.loss_backward(s.loss, chosen, target, acc, "q", len(s.hidden) + 1, loss_role(s.q_readout),
                                 s.loss_scale)
        self.optimizer.step()
        self.pruner.after_update(self.train_steps)
        self.train_steps += 1
        return loss
