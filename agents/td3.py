"""TD3 (Fujimoto et al. 2018) with Stable-Baselines3's semantics; DDPG is its preset
(``agents.settings.ddpg_settings``: one critic, an actor update every step, no target noise).

Reads top to bottom: the actor and the critics with their target networks, acting (the tanh
policy at batch 1 on the chip, Gaussian exploration noise, actions scaled to the space's
bounds), storing a transition, and one gradient step: the target from the target actor with
clipped smoothing noise and the smallest target critic, each critic's MSE loss and backward in
turn, one optimizer step over all critics; every ``policy_delay`` steps the actor climbs critic 1
(frozen meanwhile: it only passes the gradient on) and every target network moves by polyak
averaging.
"""

import gymnasium as gym
import numpy as np
import torch

from accel import Accelerator
from agents import ops
from agents.linear import accelerate, forward, has_master_weights, mlp
from agents.observations import field_scales, scaled
from agents.optim import Optimizer, update_target
from agents.prune import Pruner
from agents.replay import ReplayMemory, replay_compression
from agents.settings import TD3Settings
from agents.workloads import td3_workloads


class TD3:
    """A TD3 (or DDPG) agent for flat ``Box`` observations and bounded ``Box`` actions.

    Args:
        observation_space: The environment's observations.
        action_space: The environment's actions (finite bounds).
        settings: Hyperparameters (RL Zoo Pendulum-v1 by default; ``ddpg_settings()`` for DDPG).
        accelerator: The chip the agent learns on; None: torch fp32, the reference.
        seed: Seeds the initial weights, the noise and replay sampling.
        replay_limit_bytes: Bytes the replay memory may take (a chip's replay SRAM); None: unbounded.

    Raises:
        ValueError: Spaces the agent cannot drive, or a replay memory over its bytes.
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, settings: TD3Settings | None = None,
                 accelerator: Accelerator | None = None, seed: int = 0,
                 replay_limit_bytes: int | None = None) -> None:
        if not isinstance(action_space, gym.spaces.Box) or not np.all(np.isfinite(action_space.low)) \
                or not np.all(np.isfinite(action_space.high)) or len(action_space.shape) != 1:
            raise ValueError(f"td3 needs a flat Box action space with finite bounds, got {action_space}; "
                             "use dqn for Discrete actions")
        if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f"td3 needs a flat Box observation space, got {observation_space}")
        settings = TD3Settings() if settings is None else settings
        self.settings, self.accelerator = settings, accelerator
        self.low, self.high = action_space.low.astype(np.float32), action_space.high.astype(np.float32)
        obs_dim, self.act_dim = observation_space.shape[0], action_space.shape[0]
        self.obs_scales = field_scales(observation_space, settings.obs_scale)
        """What each observation field is multiplied by before the networks see it (None: nothing)."""
        self.rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        actor, critic = [obs_dim, *settings.hidden, self.act_dim], [obs_dim + self.act_dim, *settings.hidden, 1]
        self.pi, self.pi_target = mlp(actor, "tanh"), mlp(actor, "tanh")
        self.critics = [mlp(critic) for _ in range(settings.n_critics)]
        self.critic_targets = [mlp(critic) for _ in range(settings.n_critics)]
        self.pi_target.load_state_dict(self.pi.state_dict())
        for target, online in zip(self.critic_targets, self.critics, strict=True):
            target.load_state_dict(online.state_dict())
        if accelerator is not None:
            self.pi, self.pi_target = accelerate(self.pi, accelerator, "pi"), accelerate(self.pi_target, accelerator,
                                                                                         "pi_target")
            self.critics = [accelerate(c, accelerator, f"q{i + 1}") for i, c in enumerate(self.critics)]
            self.critic_targets = [accelerate(c, accelerator, f"q{i + 1}_target")
                                   for i, c in enumerate(self.critic_targets)]
        for target in (self.pi_target, *self.critic_targets):
            target.requires_grad_(False)
        critic_params = [p for c in self.critics for p in c.parameters()]
        self.actor_optimizer = Optimizer(self.pi.parameters(), settings.optimizer, settings.learning_rate,
                                         accelerator, momentum=settings.momentum, eps=settings.adam_eps,
                                         grad_scale=settings.loss_scale)
        self.critic_optimizer = Optimizer(critic_params, settings.optimizer, settings.learning_rate, accelerator,
                                          momentum=settings.momentum, eps=settings.adam_eps,
                                          grad_scale=settings.loss_scale)
        self.pruner = Pruner(settings, [self.pi, *self.critics], accelerator)
        self.replay = ReplayMemory(settings.buffer_size, obs_dim, self.act_dim, settings.replay_format,
                                   limit_bytes=replay_limit_bytes, compression=replay_compression(accelerator))
        self.workloads = td3_workloads(settings, obs_dim, self.act_dim, has_master_weights(accelerator))
        """The chip operations of each of its steps (``agents.workloads``)."""
        self.train_steps = 0

    # --- acting ----------------------------------------------------------------------------------

    def act(self, obs: np.ndarray, step: int) -> np.ndarray:
        """The action at environment step ``step``: uniformly random before ``learning_starts``,
        else the policy plus Gaussian noise, clipped, scaled to the bounds."""
        if step < self.settings.learning_starts:
            return self._unscale(self.rng.uniform(-1.0, 1.0, self.act_dim).astype(np.float32))
        noise = self.rng.normal(0.0, self.settings.action_noise_std, (1, self.act_dim)).astype(np.float32)
        with torch.no_grad():
            a = ops.clipped_add(self._policy(obs), noise, self.accelerator)
        return self._unscale(a.numpy()[0])

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic action (the policy alone), scaled to the bounds."""
        with torch.no_grad():
            return self._unscale(self._policy(obs).numpy()[0])

    def _policy(self, obs: np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(scaled(obs, self.obs_scales), dtype=torch.float32)
        return forward(self.pi, x.reshape(1, -1), "obs")

    def _unscale(self, a: np.ndarray) -> np.ndarray:
        return self.low + (a + 1.0) * 0.5 * (self.high - self.low)

    def _scale(self, action: np.ndarray) -> np.ndarray:
        return 2.0 * (np.asarray(action, np.float32) - self.low) / (self.high - self.low) - 1.0

    # --- remembering -----------------------------------------------------------------------------

    def store(self, obs, action: np.ndarray, reward: float, next_obs, terminated: bool) -> None:
        """Keeps a transition, the action scaled to [−1, 1] (its write counted as replay traffic on the chip)."""
        stored = self.replay.add(scaled(obs, self.obs_scales), self._scale(action), reward,
                                 scaled(next_obs, self.obs_scales), terminated)
        if self.accelerator is not None:
            self.accelerator.replay(write_bytes=self.replay.bytes_per_transition, stored=(0, stored))

    def target_update_due(self, step: int) -> bool:
        """TD3 updates its targets inside the actor's gradient steps, never between environment steps."""
        return False

    def gradient_steps_due(self, step: int) -> int:
        """Gradient steps to take after environment step ``step`` (counted from 1)."""
        s = self.settings
        return s.gradient_steps if step % s.train_freq == 0 and step > s.learning_starts else 0

    def actor_update_due(self) -> bool:
        """Whether the next gradient step also updates the actor and the targets (the policy delay)."""
        return (self.train_steps + 1) % self.settings.policy_delay == 0

    # --- learning --------------------------------------------------------------------------------

    def train_step(self) -> float:
        """One gradient step on a sampled batch. Returns the critics' loss."""
        s, acc = self.settings, self.accelerator
        actor_update = self.actor_update_due()
        batch = self.replay.sample(s.batch_size, self.rng)
        if acc is not None:
            acc.replay(read_bytes=s.batch_size * self.replay.bytes_per_transition,
                       stored=(self.replay.sampled_bytes, 0))
        obs, actions = torch.from_numpy(batch.observations), torch.from_numpy(batch.actions)
        next_obs = torch.from_numpy(batch.next_observations)
        with torch.no_grad():
            next_a = forward(self.pi_target, next_obs, "s_next")
            if s.target_policy_noise > 0:
                noise = np.clip(self.rng.normal(0.0, s.target_policy_noise, tuple(next_a.shape)),
                                -s.target_noise_clip, s.target_noise_clip).astype(np.float32)
                next_a = ops.clipped_add(next_a, noise, acc)
            next_in = torch.cat([next_obs, next_a], dim=1)
            next_q = ops.twin_min([forward(t, next_in, "s_next_a")[:, 0] for t in self.critic_targets], acc)
            target = ops.td_target(batch.rewards, batch.dones, next_q, s.gamma, acc)
        self.critic_optimizer.zero_grad()
        state_action = torch.cat([obs, actions], dim=1)
        loss = sum(ops.loss_backward("mse", forward(c, state_action, "s_a")[:, 0], target, acc, f"q{i + 1}",
                                     len(s.hidden) + 1, loss_scale=s.loss_scale) for i, c in enumerate(self.critics))
        self.critic_optimizer.step()
        if actor_update:
            self.actor_optimizer.zero_grad()
            critic = self.critics[0].requires_grad_(False)
            ops.ascent_backward(forward(critic, torch.cat([obs, forward(self.pi, obs, "s")], dim=1), "s_pi"), acc,
                                s.loss_scale)
            critic.requires_grad_(True)
            self.actor_optimizer.step()
        self.pruner.after_update(self.train_steps)
        if actor_update:
            for target, online in (*zip(self.critic_targets, self.critics, strict=True), (self.pi_target, self.pi)):
                update_target(target, online, s.tau, acc)
        self.train_steps += 1
        return loss
