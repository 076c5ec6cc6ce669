"""Agent settings: frozen dataclasses, one docstring per field, validated once at construction.

Defaults are the RL Baselines3 Zoo's tuned hyperparameters with Stable-Baselines3's semantics:
DQN for CartPole-v1, TD3 for Pendulum-v1 (``DDPG`` is TD3 with one critic, an actor update every
step and no target-policy noise, as in SB3). They are the only copy: ``agents.workloads`` builds
each agent's chip workload from these objects.

Importing this module imports neither torch nor the simulator.
"""

import dataclasses
import math
from dataclasses import dataclass

OPTIMIZERS = ("adam", "sgd")
LOSSES = ("huber", "mse")
Q_READOUTS = ("activation", "accumulator")
"""Formats a Q-network's head can leave its values in: the activation format, or the accumulator's."""
OBS_SCALES = ("none", "bounds")
"""Observation scalings (``agents.observations``): as it is, or each bounded field into [−1, 1]."""
REPLAY_FORMATS = ("fp32", "bf16", "fp16", "fp8_e4m3", "fp8_e5m2", "int16", "int8")
"""Storage formats of observations in replay memory (integer ones with a per-field power-of-two scale)."""


@dataclass(frozen=True, slots=True)
class PruningSettings:
    """Gradual magnitude pruning of the weight matrices (Zhu & Gupta 2017; ``agents.prune``), shared
    by every agent; off by default."""

    sparsity: float = 0.0
    """Final fraction of each weight matrix's units pruned, s_f in [0, 1) (0: no pruning)."""
    initial_sparsity: float = 0.0
    """Fraction pruned at the first mask update, s_i in [0, sparsity]."""
    prune_group: int = 0
    """0: prune single weights by magnitude; G: groups of G consecutive input rows (the GEMM's k)
    across all outputs by L2 norm, the groups a chip with ``[sparsity] group = G`` skips."""
    prune_start: int = 0
    """Gradient step of the first mask update, t0."""
    prune_steps: int = 5000
    """Gradient steps from the first mask update to the last, n·Δt (a multiple of ``prune_interval``)."""
    prune_interval: int = 100
    """Gradient steps between mask updates, Δt."""


@dataclass(frozen=True, slots=True)
class NarrowFormatSettings(PruningSettings):
    """How every agent meets a chip's narrow formats (off by default): loss scaling for its
    gradients, per-field scaling for its observations."""

    loss_scale: float = 1.0
    """Static loss scaling (Micikevicius et al. 2018) on the chip: the loss gradient is multiplied by
    this power of two before the backward pass and the weight gradients divided by it in the update
    format before clipping and the optimizer, so that gradients in a narrow format (fp8 e5m2, fp16)
    do not fall below its smallest subnormal; a scaled gradient beyond the format's range is counted
    as a saturation. 1: none. No effect on torch fp32."""
    obs_scale: str = "none"
    """Observation fields scaled before the networks see them, one of ``OBS_SCALES``: ``"none"``, or
    ``"bounds"``: each field with finite bounds multiplied by the power of two that brings it within
    [−1, 1] (exact; done by the host, not priced), so that one per-tensor scale on an integer chip
    does not leave a small field few bits beside a large one (``agents.observations``)."""


@dataclass(frozen=True, slots=True)
class DQNSettings(NarrowFormatSettings):
    """DQN (Mnih et al. 2015) as Stable-Baselines3 runs it; defaults: RL Zoo, CartPole-v1."""

    learning_rate: float = 2.3e-3
    """Optimizer step size."""
    batch_size: int = 64
    """Transitions per gradient step."""
    buffer_size: int = 100_000
    """Replay memory capacity in transitions (its bytes follow from ``replay_format``)."""
    replay_format: str = "fp32"
    """Format observations are stored in (experience compression); one of ``REPLAY_FORMATS``."""
    learning_starts: int = 1000
    """Environment steps of uniformly random actions before learning starts."""
    gamma: float = 0.99
    """Discount factor."""
    target_update_interval: int = 10
    """Environment steps between target-network updates (SB3 counts env steps, not gradient steps)."""
    tau: float = 1.0
    """Target update coefficient: 1 copies the online network, less averages (polyak)."""
    train_freq: int = 256
    """Environment steps between bursts of gradient steps."""
    gradient_steps: int = 128
    """Gradient steps per burst."""
    exploration_fraction: float = 0.16
    """Fraction of the run over which ε falls linearly from its initial to its final value."""
    exploration_initial_eps: float = 1.0
    """ε at the start."""
    exploration_final_eps: float = 0.04
    """ε after ``exploration_fraction`` of the run."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths of the Q-network (ReLU)."""
    max_grad_norm: float = 10.0
    """Gradients are clipped to this global norm (0: no clipping)."""
    double_q: bool = False
    """Double DQN: the online network picks the next action, the target network values it."""
    loss: str = "huber"
    """TD loss: ``"huber"`` (SB3's smooth L1) or ``"mse"``."""
    optimizer: str = "adam"
    """``"adam"`` or ``"sgd"`` (with ``momentum``)."""
    momentum: float = 0.9
    """Momentum of ``"sgd"``."""
    adam_eps: float = 1e-8
    """Adam's ε (torch's default, as SB3's DQN uses)."""
    q_readout: str = "activation"
    """Format the Q-values leave the head in, one of ``Q_READOUTS``: ``"activation"`` (rounded into
    the chip's activation format like every layer's output) or ``"accumulator"`` (a wide readout: the
    head's GEMM output left in the accumulator's format, int32 on an int8 chip, and the bias add,
    maximum over actions and TD target computed in it; priced at that width). No effect on torch fp32."""
    dueling: bool = False
    """Dueling Q-network (Wang et al. 2016): the hidden layers feed a value head V and an advantage
    head A, Q = V + A − mean A, combined on the vector unit; acting reads A alone. On an int8 chip
    each head's output keeps its own scale, so the advantages are not rounded at V's."""

    def __post_init__(self) -> None:
        name = "dqn"
        _positive(name, self, "learning_rate", "batch_size", "buffer_size", "target_update_interval", "train_freq",
                  "gradient_steps", "adam_eps")
        _non_negative(name, self, "learning_starts", "max_grad_norm")
        _within(name, self, "gamma", 0.0, 1.0)
        _within(name, self, "momentum", 0.0, 1.0)
        _within(name, self, "exploration_fraction", 0.0, 1.0)
        _within(name, self, "exploration_initial_eps", 0.0, 1.0)
        _within(name, self, "exploration_final_eps", 0.0, 1.0)
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"{name} setting tau must be in (0, 1], got {self.tau!r}")
        _choice(name, self, "loss", LOSSES)
        _choice(name, self, "optimizer", OPTIMIZERS)
        _choice(name, self, "q_readout", Q_READOUTS)
        _common(name, self)


@dataclass(frozen=True, slots=True)
class TD3Settings(NarrowFormatSettings):
    """TD3 (Fujimoto et al. 2018) as Stable-Baselines3 runs it; defaults: RL Zoo, Pendulum-v1."""

    learning_rate: float = 1e-3
    """Step size of the actor's and the critics' optimizers."""
    batch_size: int = 256
    """Transitions per gradient step."""
    buffer_size: int = 200_000
    """Replay memory capacity in transitions (its bytes follow from ``replay_format``)."""
    replay_format: str = "fp32"
    """Format observations are stored in (experience compression); one of ``REPLAY_FORMATS``."""
    learning_starts: int = 10_000
    """Environment steps of uniformly random actions before learning starts."""
    gamma: float = 0.98
    """Discount factor."""
    tau: float = 0.005
    """Polyak coefficient of the target updates."""
    action_noise_std: float = 0.1
    """Standard deviation of the Gaussian exploration noise, in actions scaled to [−1, 1]."""
    train_freq: int = 1
    """Environment steps between bursts of gradient steps."""
    gradient_steps: int = 1
    """Gradient steps per burst."""
    policy_delay: int = 2
    """Critic updates per actor (and target) update."""
    target_policy_noise: float = 0.2
    """Standard deviation of the target-policy smoothing noise (0: none, as DDPG)."""
    target_noise_clip: float = 0.5
    """The smoothing noise is clipped to ± this."""
    n_critics: int = 2
    """Critics (2: clipped double-Q; 1: DDPG)."""
    hidden: tuple[int, ...] = (400, 300)
    """Hidden layer widths of the actor and of each critic (ReLU)."""
    optimizer: str = "adam"
    """``"adam"`` or ``"sgd"`` (with ``momentum``)."""
    momentum: float = 0.9
    """Momentum of ``"sgd"``."""
    adam_eps: float = 1e-8
    """Adam's ε (torch's default, as SB3's TD3 uses)."""

    def __post_init__(self) -> None:
        name = "td3"
        _positive(name, self, "learning_rate", "batch_size", "buffer_size", "train_freq", "gradient_steps",
                  "policy_delay", "n_critics", "adam_eps")
        _non_negative(name, self, "learning_starts", "action_noise_std", "target_policy_noise", "target_noise_clip")
        _within(name, self, "gamma", 0.0, 1.0)
        _within(name, self, "momentum", 0.0, 1.0)
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"{name} setting tau must be in (0, 1], got {self.tau!r}")
        _choice(name, self, "optimizer", OPTIMIZERS)
        _common(name, self)


def ddpg_settings(**changes) -> TD3Settings:
    """DDPG as a TD3 preset (SB3's ``DDPG``): one critic, policy delay 1, no target-policy noise."""
    return dataclasses.replace(TD3Settings(policy_delay=1, target_policy_noise=0.0, target_noise_clip=0.0,
                                           n_critics=1), **changes)


AGENTS = {"dqn": DQNSettings, "td3": TD3Settings, "ddpg": ddpg_settings}
"""Settings factory of each agent name ``drlsim train --agent`` takes."""


def agent_settings(agent: str, overrides: dict[str, str] | None = None):
    """The settings of ``agent`` with ``overrides`` (field name → text, as ``--set key=value`` gives them)
    parsed by each field's type and validated.

    Raises:
        ValueError: An unknown agent or field, a value that does not parse, or one out of range.
    """
    if agent not in AGENTS:
        raise ValueError(f"unknown agent {agent!r}; agents: {', '.join(AGENTS)}")
    base = AGENTS[agent]()
    changes = {}
    allowed = [f.name for f in dataclasses.fields(base)]
    for key, text in (overrides or {}).items():
        if key not in allowed:
            raise ValueError(f"unknown {agent} setting {key!r}; settings: {', '.join(allowed)}")
        changes[key] = _parse(agent, key, text, getattr(base, key))
    return dataclasses.replace(base, **changes)


def _parse(agent: str, key: str, text: str, default):
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if isinstance(default, tuple):
            return tuple(int(part) for part in text.split(","))
        return type(default)(text)
    except ValueError:
        kind = {bool: "true or false", tuple: "comma-separated integers"}.get(type(default), type(default).__name__)
        raise ValueError(f"{agent} setting {key} must be {kind}, got {text!r}") from None


def _positive(agent: str, s, *keys: str) -> None:
    for key in keys:
        value = getattr(s, key)
        if not value > 0:
            raise ValueError(f"{agent} setting {key} must be > 0, got {value!r}")


def _non_negative(agent: str, s, *keys: str) -> None:
    for key in keys:
        value = getattr(s, key)
        if not value >= 0:
            raise ValueError(f"{agent} setting {key} must be >= 0, got {value!r}")


def _within(agent: str, s, key: str, low: float, high: float) -> None:
    value = getattr(s, key)
    if not low <= value <= high:
        raise ValueError(f"{agent} setting {key} must be in [{low:g}, {high:g}], got {value!r}")


def _choice(agent: str, s, key: str, allowed: tuple[str, ...]) -> None:
    if getattr(s, key) not in allowed:
        raise ValueError(f"{agent} setting {key} must be one of {', '.join(allowed)}, got {getattr(s, key)!r}")


def _common(agent: str, s) -> None:
    if not 0.0 <= s.initial_sparsity <= s.sparsity < 1.0:
        raise ValueError(f"{agent} settings need 0 <= initial_sparsity <= sparsity < 1, got initial_sparsity "
                         f"{s.initial_sparsity!r} and sparsity {s.sparsity!r}")
    _non_negative(agent, s, "prune_group", "prune_start")
    _positive(agent, s, "prune_steps", "prune_interval")
    if s.prune_steps % s.prune_interval:
        raise ValueError(f"{agent} setting prune_steps ({s.prune_steps}) must be a multiple of prune_interval "
                         f"({s.prune_interval})")
    _choice(agent, s, "replay_format", REPLAY_FORMATS)
    _choice(agent, s, "obs_scale", OBS_SCALES)
    if not (s.loss_scale >= 1.0 and math.frexp(s.loss_scale)[0] == 0.5):
        raise ValueError(f"{agent} setting loss_scale must be a power of two >= 1, got {s.loss_scale!r}")
    if not s.hidden or min(s.hidden) < 1:
        raise ValueError(f"{agent} setting hidden must be one or more positive widths, got {s.hidden!r}")
    if s.batch_size > s.buffer_size:
        raise ValueError(f"{agent} setting batch_size {s.batch_size} exceeds buffer_size {s.buffer_size}: "
                         "a batch must fit in the replay memory")
