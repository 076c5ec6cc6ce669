"""The chip workloads of each agent, built from its own settings by ``accel.workload``'s builders
(``accel`` does not import ``agents``; the hyperparameters live only in ``agents.settings``).

Each agent issues exactly these operations when it runs (``tests/agents/test_workloads.py``):
``act`` per greedy or policy action, ``store`` per environment step after learning starts is
possible (every step), ``train_step`` per gradient step (TD3: ``critic_step`` or ``actor_step``
as the policy delay decides), ``target_update`` when the target networks are refreshed outside
a gradient step (DQN).
"""

from accel.workload import (
    ReplayOp,
    Workload,
    dqn_step,
    greedy_action,
    noisy_action,
    q_parameters,
    target_update,
    td3_step,
)
from agents.replay import transition_bytes
from agents.settings import DQNSettings, TD3Settings


def dqn_workloads(settings: DQNSettings, obs_dim: int, n_actions: int,
                  master_weights: bool = True) -> dict[str, Workload]:
    """DQN's workloads by name: ``act``, ``store``, ``train_step``, ``target_update``.
    ``master_weights``: the chip keeps master weights (``agents.linear.has_master_weights``)."""
    bytes_per_transition = transition_bytes(obs_dim, 1, settings.replay_format, n_actions)
    sizes = [obs_dim, *settings.hidden, n_actions]
    step = dqn_step(obs_dim, n_actions, settings.hidden, settings.batch_size, bytes_per_transition=bytes_per_transition,
                    double_q=settings.double_q, loss=settings.loss, optimizer=settings.optimizer,
                    max_grad_norm=settings.max_grad_norm or None, master_weights=master_weights,
                    q_role=settings.q_readout, dueling=settings.dueling, loss_scaled=settings.loss_scale != 1.0)
    return {
        "act": Workload("dqn act", tuple(greedy_action("q", sizes, q_role=settings.q_readout,
                                                       dueling=settings.dueling))),
        "store": Workload("dqn store", (ReplayOp(write_bytes=bytes_per_transition),)),
        "train_step": step,
        "target_update": Workload("dqn target update", tuple(target_update(
            *(q_parameters(net, sizes[:-1], n_actions, settings.dueling, master_weights) for net in ("q_target", "q")),
            hard=settings.tau == 1.0))),
    }


def td3_workloads(settings: TD3Settings, obs_dim: int, act_dim: int,
                  master_weights: bool = True) -> dict[str, Workload]:
    """TD3's (and DDPG's) workloads by name: ``act``, ``store``, ``critic_step``, ``actor_step``.
    ``master_weights`` as in ``dqn_workloads``."""
    bytes_per_transition = transition_bytes(obs_dim, act_dim, settings.replay_format, None)
    def step(actor_update: bool) -> Workload:
        return td3_step(obs_dim, act_dim, settings.hidden, settings.batch_size, actor_update,
                        bytes_per_transition=bytes_per_transition, n_critics=settings.n_critics,
                        target_noise=settings.target_policy_noise > 0, optimizer=settings.optimizer,
                        master_weights=master_weights, loss_scaled=settings.loss_scale != 1.0)
    return {
        "act": Workload("td3 act", tuple(noisy_action("pi", [obs_dim, *settings.hidden, act_dim]))),
        "store": Workload("td3 store", (ReplayOp(write_bytes=bytes_per_transition),)),
        "critic_step": step(False),
        "actor_step": step(True),
    }
