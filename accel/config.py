"""The hardware description of a simulated chip: frozen dataclasses loaded from TOML and validated once.

A hardware file has a top-level ``name`` and one table per dataclass below (``[array]``, ``[formats]``,
``[sram]``, ``[dram]``, ``[vector]``, ``[clock]``, ``[energy]``, ``[compression]``, ``[sparsity]``).
Every table and every key in it is optional and takes the default documented on its field; unknown
tables or keys are errors. The defaults describe a small edge chip: a 16×16 weight-stationary
transposable array computing int8 with int32 accumulators, 64 KiB weight and activation buffers,
200 MHz at 0.8 V in 28 nm.

Everything is checked in :func:`config_from_dict` (which :func:`load_config` and :func:`with_overrides`
go through), and every problem is a one-line ``ValueError`` that names the file, the dotted key and
what is allowed. The dataclasses themselves do not re-check: build them through these functions.
"""

import enum
import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path

from accel.compression import NONE, SCHEME_NAMES, SCHEMES
from accel.numerics.formats import FORMAT_NAMES, NumberFormat, get_format

PRESETS_DIR = resources.files("accel") / "presets"
"""The preset hardware files ``<name>.toml``: package data (``accel/presets/``), found in a wheel as in the checkout."""

SCALINGS = ("tensor_pow2", "channel_pow2", "block_pow2", "none")
"""Scalings of integer formats: a per-tensor power-of-two scale, a power-of-two scale per output
channel of each weight matrix (every other tensor per tensor), a power-of-two scale per block of
``formats.block`` consecutive stored values of every tensor, or the format's binary point as written."""

CHANNEL_SPAN = 6
"""How far (in powers of two) a channel's scale may lie below its matrix's largest under
``channel_pow2``: the widest alignment shift of a channel's products before they meet in an
accumulator (int8 × int8 sums of up to 2,000 terms stay exact in int32)."""

BLOCK_SPAN = 12
"""The default of ``[formats] block_span``: how far (in powers of two) a block's scale may lie below
its tensor's largest under ``block_pow2``, the widest alignment shift of a block's values as they
enter the array, where the products of every pair of blocks meet on one exponent in an integer
accumulator (int8 × int8 with a span of 12: products of up to 40 bits, which ``fixed48_0`` holds)."""

ROUNDINGS = ("nearest", "stochastic")
"""Rounding modes: round half to even, or unbiased stochastic rounding."""

COMPRESSION_CLASSES = ("weight", "activation", "gradient", "replay")
"""Tensor classes a hardware file may store compressed (``[compression]``)."""

NOMINAL = "nominal"
"""``compression.<class>_ratio = "nominal"``: a workload assumes the scheme's nominal ratio."""
SKIPPINGS = ("none", "group", "element")
"""Zero skipping on the array: none, groups of ``sparsity.group`` consecutive k, or every MAC with a zero
operand (see ``SparsityConfig``)."""

DENSITY_ROLES = ("weight", "activation", "gradient")
"""Operand roles whose density a hardware file declares (``sparsity.<role>_density``)."""


class Dataflow(enum.Enum):
    """Which operand stays in the processing elements while the others stream through."""

    WS = "ws"
    """Weight stationary."""
    OS = "os"
    """Output stationary."""
    IS = "is"
    """Input stationary."""


@dataclass(frozen=True, slots=True)
class ArrayConfig:
    """The array of processing elements (``[array]``).

    Attributes:
        rows: PE rows (default 16).
        cols: PE columns (default 16).
        dataflow: Which operand stays in the PEs (default weight stationary).
        transposable: Whether a backward pass can read ``Wᵀ`` from the PEs without reloading it
            (default True, as in published DRL training chips).
        zero_gating: Whether a PE skips the multiply when an operand is zero (default False).
        double_buffered_weights: Whether each PE holds a second weight register so the next tile
            loads while the current one computes (default False).
    """

    rows: int = 16
    cols: int = 16
    dataflow: Dataflow = Dataflow.WS
    transposable: bool = True
    zero_gating: bool = False
    double_buffered_weights: bool = False


@dataclass(frozen=True, slots=True)
class FormatsConfig:
    """Number formats per operand role (``[formats]``); names as in :func:`accel.numerics.formats.get_format`.

    Attributes:
        weight: Format of weights on the array (default ``"int8"``).
        activation: Format of activations (default ``"int8"``).
        gradient: Format of gradients (default ``"int8"``).
        accumulator: Format the PEs accumulate in; must hold every operand product exactly
            (default ``"int32"``).
        scaling: Scaling of integer formats, one of :data:`SCALINGS` (default ``"tensor_pow2"``).
            ``"channel_pow2"`` gives each output channel (column) of a weight matrix its own
            power-of-two scale, at most :data:`CHANNEL_SPAN` below the matrix's largest; it needs
            master weights (the optimizer updates them per tensor). ``"block_pow2"`` stores every
            tensor in blocks of ``block`` consecutive values (row-major), each with its own
            power-of-two scale (a shared exponent, as the OCP microscaling formats store one per 32
            values), at most ``block_span`` below the tensor's largest; the array shifts each
            block's codes onto the tensor's smallest exponent as they enter it, so its products meet
            exactly in a wide integer accumulator.
        rounding: Rounding into narrower formats, one of :data:`ROUNDINGS` (default ``"stochastic"``).
        master_weight: Float format of the master copy of the weights the optimizer updates, or
            ``"none"`` to update the weights in their own format (default ``"fp32"``).
        master_rounding: Rounding of the vector unit's arithmetic in the master-weight format (optimizer
            updates, target networks), one of :data:`ROUNDINGS` (default ``"nearest"``: an fp32 or bf16
            ALU rounds half to even; the master copy's rounding into the weight format, and every
            other rounding, follows ``rounding``). Without master weights updates compute in the
            weight format and round as ``rounding`` says.
        weight_rounding: Rounding into the weight format (the working copy of the master weights,
            GEMM operands in the weight role), one of :data:`ROUNDINGS`, or ``""`` (the default) to
            follow ``rounding``. Quantization-aware training's choice is ``"nearest"`` here: the
            forward pass sees one deterministic function of the master weights.
        activation_rounding: Rounding into the activation format (forward GEMM outputs and operands,
            vector operations on activations), or ``""`` (default) to follow ``rounding``.
        gradient_rounding: Rounding into the gradient format (backward GEMM outputs and operands,
            vector operations on gradients and losses), or ``""`` (default) to follow ``rounding``.
        block: Values per shared exponent under ``block_pow2`` (default 32).
        block_span: How far (in powers of two) a block's scale may lie below its tensor's largest
            under ``block_pow2`` (default :data:`BLOCK_SPAN`): the alignment shifter's reach; the
            accumulator must hold products shifted by twice as much.
    """

    weight: str = "int8"
    activation: str = "int8"
    gradient: str = "int8"
    accumulator: str = "int32"
    scaling: str = "tensor_pow2"
    rounding: str = "stochastic"
    master_weight: str = "fp32"
    master_rounding: str = "nearest"
    weight_rounding: str = ""
    activation_rounding: str = ""
    gradient_rounding: str = ""
    block: int = 32
    block_span: int = BLOCK_SPAN


@dataclass(frozen=True, slots=True)
class SramConfig:
    """On-chip SRAM buffers (``[sram]``), sizes in bytes.

    Attributes:
        weight_bytes: Weight buffer (default 64 KiB).
        activation_bytes: Activation (input) buffer (default 64 KiB).
        output_bytes: Output (partial-sum) buffer (default 32 KiB).
        replay_bytes: On-chip replay memory; 0 keeps replay memory in DRAM (default 0).
        bank_bytes: Size of one SRAM bank: a buffer larger than it is built of banks of this size,
            and an access reads or writes one bank (so it costs what an access to a buffer of
            ``bank_bytes`` costs). 0: every buffer is one bank (default).
    """

    weight_bytes: int = 65536
    activation_bytes: int = 65536
    output_bytes: int = 32768
    replay_bytes: int = 0
    bank_bytes: int = 0


@dataclass(frozen=True, slots=True)
class DramConfig:
    """Off-chip DRAM (``[dram]``).

    Attributes:
        bandwidth_bytes_per_cycle: Sustained bandwidth in bytes per array clock cycle (default 16).
        latency_cycles: Latency of a request in array clock cycles (default 100).
    """

    bandwidth_bytes_per_cycle: float = 16.0
    latency_cycles: int = 100


@dataclass(frozen=True, slots=True)
class VectorConfig:
    """The vector unit for activations, losses and optimizer updates (``[vector]``).

    Attributes:
        lanes: Elements processed per cycle (default 16).
    """

    lanes: int = 16


@dataclass(frozen=True, slots=True)
class ClockConfig:
    """Clock and supply (``[clock]``).

    Attributes:
        frequency_hz: Clock frequency in hertz (default 200 MHz), or ``"max"``: the highest the
            supply voltage allows (the energy model's delay model decides, and refuses a frequency
            above it).
        voltage_v: Supply voltage in volts (default 0.8 V).
        logic_depth_fo4: Logic depth of one clock cycle in fan-out-of-4 inverter delays, which ties
            the highest frequency to the node's delay at the voltage (default 40, an assumption:
            a synthesized low-power datapath).
    """

    frequency_hz: float | str = 200e6
    voltage_v: float = 0.8
    logic_depth_fo4: float = 40.0


@dataclass(frozen=True, slots=True)
class EnergyConfig:
    """Technology for the energy model (``[energy]``).

    Attributes:
        node_nm: Process node in nanometres (default 28 nm).
        table: Path to a TOML file overriding the energy table, or ``""`` for the built-in table
            (default ``""``). A relative path in a hardware file is resolved against that file's
            directory; the loaded config holds the resolved path.
    """

    node_nm: float = 28.0
    table: str = ""


@dataclass(frozen=True, slots=True)
class CompressionConfig:
    """How the chip stores tensors (``[compression]``): a scheme of ``accel.compression`` per tensor
    class, or ``"none"``. A compressed GEMM operand or output crosses the DRAM interface in its code,
    measured from its values in runs; with ``sram = false`` it is decoded into (encoded out of) the
    SRAM buffers, which hold plain words, with ``sram = true`` the weight and activation buffers hold
    it coded too and it is decoded at the array's and vector unit's edge. The replay memory holds its
    transitions compressed wherever it lives. See docs/energy.md (Compression).

    Attributes:
        weight: Scheme of weights moved to and from DRAM (default ``"none"``).
        activation: Scheme of activations (default ``"none"``).
        gradient: Scheme of gradients (default ``"none"``).
        replay: Scheme of the observations in replay memory (default ``"none"``).
        weight_ratio: Stored size over raw size that a workload counted without values assumes for
            compressed weights: a number in (0, 1], or ``"nominal"`` (default), the scheme's
            ``accel.compression.nominal_ratio`` in the weights' format.
        activation_ratio: The same for activations.
        gradient_ratio: The same for gradients.
        replay_ratio: The same for replay transitions (nominal: on fp32 observations).
        sram: The SRAM buffers hold the compressed classes (weights, activations, gradients) in their
            code (default False: plain words): the bytes read and written there follow the same ratio
            as the DRAM transfers, the codec works at the buffer's edge (``accel.planner``, Compression).
    """

    weight: str = "none"
    activation: str = "none"
    gradient: str = "none"
    replay: str = "none"
    weight_ratio: float | str = NOMINAL
    activation_ratio: float | str = NOMINAL
    gradient_ratio: float | str = NOMINAL
    replay_ratio: float | str = NOMINAL
    sram: bool = False

    def scheme(self, tensor_class: str) -> str:
        """The scheme of a tensor class (one of :data:`COMPRESSION_CLASSES`); ``"none"`` for the
        tensors no class holds (a GEMM output read out wide in the accumulator's format)."""
        return getattr(self, tensor_class) if tensor_class in COMPRESSION_CLASSES else NONE

    @property
    def enabled(self) -> bool:
        """Whether any tensor class is stored compressed."""
        return any(self.scheme(c) != "none" for c in COMPRESSION_CLASSES)


@dataclass(frozen=True, slots=True)
class SparsityConfig:
    """Zero skipping on the array and the operand densities workloads declare (``[sparsity]``).

    Gating is per element (``array.zero_gating``: a MAC with a zero operand does no arithmetic but
    keeps its cycle and its register traffic, since on a systolic array the operand and the partial
    sum still pass through the PE). Skipping is per group: with ``skipping = "group"`` the array
    compacts away every group of ``group`` consecutive k whose B operand (the weights of a forward
    pass) is zero across all of B's columns, so the GEMM runs with fewer k: fewer rows of work,
    folds, cycles, operand reads and MACs (``accel.sparsity``; docs/energy.md, Sparsity). With
    ``skipping = "element"`` every MAC with a zero operand is skipped whole, its arithmetic and its
    register traffic (a zero-skipping PE, as sparse learning processors skip zero inputs), at the
    price of a zero check per operand word; the systolic schedule keeps its cycles (the zero's slot
    still passes through the array).

    Attributes:
        skipping: ``"none"``, ``"group"`` or ``"element"``, one of :data:`SKIPPINGS` (default ``"none"``).
        group: Consecutive k per skip group, G (default 1); on a ``ws`` or ``is`` array, where k
            maps to the rows, it must divide ``array.rows``.
        weight_density: Fraction of non-zero weights a workload counted without values assumes,
            in (0, 1] (default 1). The zeros come in whole skip groups (a group-pruned network).
        activation_density: Fraction of non-zero activations, in (0, 1] (default 1).
        gradient_density: Fraction of non-zero gradients, in (0, 1] (default 1).
    """

    skipping: str = "none"
    group: int = 1
    weight_density: float = 1.0
    activation_density: float = 1.0
    gradient_density: float = 1.0

    def density(self, role: str) -> float:
        """The declared density of an operand role (one of :data:`DENSITY_ROLES`)."""
        return getattr(self, f"{role}_density")


@dataclass(frozen=True, slots=True)
class AcceleratorConfig:
    """A whole chip: one field per table of the hardware file.

    Attributes:
        name: Name of the chip (required).
        array: The PE array.
        formats: Number formats per role.
        sram: On-chip buffers.
        dram: Off-chip memory.
        vector: The vector unit.
        clock: Clock and supply.
        energy: Technology for the energy model.
        compression: Compressed storage in DRAM and replay memory.
        sparsity: Zero skipping and declared densities.
    """

    name: str
    array: ArrayConfig = field(default_factory=ArrayConfig)
    formats: FormatsConfig = field(default_factory=FormatsConfig)
    sram: SramConfig = field(default_factory=SramConfig)
    dram: DramConfig = field(default_factory=DramConfig)
    vector: VectorConfig = field(default_factory=VectorConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    compression: CompressionConfig = field(default_factory=CompressionConfig)
    sparsity: SparsityConfig = field(default_factory=SparsityConfig)


_SECTIONS = {
    "array": ArrayConfig,
    "formats": FormatsConfig,
    "sram": SramConfig,
    "dram": DramConfig,
    "vector": VectorConfig,
    "clock": ClockConfig,
    "energy": EnergyConfig,
    "compression": CompressionConfig,
    "sparsity": SparsityConfig,
}
_POSITIVE_INTS = {"formats.block", "array.rows", "array.cols", "sram.weight_bytes", "sram.activation_bytes",
                  "sram.output_bytes", "vector.lanes", "sparsity.group"}
_DENSITIES = {f"sparsity.{role}_density" for role in DENSITY_ROLES}
_NON_NEGATIVE_INTS = {"formats.block_span", "sram.replay_bytes", "sram.bank_bytes", "dram.latency_cycles"}
_POSITIVE_FLOATS = {"dram.bandwidth_bytes_per_cycle", "clock.frequency_hz", "clock.voltage_v",
                    "clock.logic_depth_fo4", "energy.node_nm"}
MAX_FREQUENCY = "max"
"""``clock.frequency_hz = "max"``: the highest frequency the voltage allows."""
_COMPRESSION_SCHEMES = {f"compression.{c}" for c in COMPRESSION_CLASSES}
_COMPRESSION_RATIOS = {f"compression.{c}_ratio" for c in COMPRESSION_CLASSES}
_BOOLS = {"array.transposable", "array.zero_gating", "array.double_buffered_weights", "compression.sram"}
_ROLE_ROUNDINGS = ("formats.weight_rounding", "formats.activation_rounding", "formats.gradient_rounding")
_FORMAT_KEYS = ("formats.weight", "formats.activation", "formats.gradient", "formats.accumulator")

_GEMM_PAIRS = (  # the operand roles that meet in one GEMM of a training step
    ("activation", "weight", "forward"),
    ("gradient", "weight", "input-gradient"),
    ("activation", "gradient", "weight-gradient"),
)


def list_presets() -> list[str]:
    """Returns the names of the preset hardware files, sorted."""
    return sorted(entry.name.removesuffix(".toml") for entry in PRESETS_DIR.iterdir() if entry.name.endswith(".toml"))


def load_config(name_or_path: str | Path) -> AcceleratorConfig:
    """Loads and validates a hardware description.

    Args:
        name_or_path: A preset name (see :func:`list_presets`) or a path to a TOML hardware file.
            A ``Path``, or a string that ends in ``.toml`` or contains a path separator, is a path.

    Returns:
        The validated config.

    Raises:
        ValueError: Unknown preset (the message lists the presets), missing or malformed file, or
            an invalid value (the message names the file and the dotted key).
    """
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text or "\\" in text:
        path = Path(name_or_path)
        if not path.is_file():
            raise ValueError(f"hardware file {text!r} not found")
    else:
        if text not in list_presets():
            raise ValueError(f"unknown preset {text!r}; presets: {', '.join(list_presets())} "
                             "(or give a path to a .toml hardware file)")
        path = Path(str(PRESETS_DIR / f"{text}.toml"))  # installed packages are directories on disk
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from error
    return _build(data, str(path), path.resolve().parent)


def config_from_dict(d: Mapping, source: str = "<dict>") -> AcceleratorConfig:
    """Builds and validates a config from a dict shaped like a hardware file.

    Args:
        d: ``{"name": ..., "array": {...}, ...}``; missing tables and keys take their defaults.
        source: What the dict came from, quoted in error messages.

    Returns:
        The validated config. A relative ``energy.table`` is resolved against the working directory.

    Raises:
        ValueError: An invalid value; the message names ``source`` and the dotted key.
    """
    return _build(d, source, Path.cwd())


def config_to_dict(cfg: AcceleratorConfig) -> dict:
    """Returns ``cfg`` as a dict of plain TOML values; ``config_from_dict`` of it equals ``cfg``."""
    out: dict = {"name": cfg.name}
    for section in _SECTIONS:
        values = {}
        for f in fields(_SECTIONS[section]):
            value = getattr(getattr(cfg, section), f.name)
            values[f.name] = value.value if isinstance(value, Dataflow) else value
        out[section] = values
    return out


def config_to_toml(cfg: AcceleratorConfig) -> str:
    """Returns ``cfg`` as the text of a hardware file that :func:`load_config` reads back equal."""
    lines = [f"name = {json.dumps(cfg.name, ensure_ascii=False)}"]
    for section, values in config_to_dict(cfg).items():
        if section == "name":
            continue
        lines += ["", f"[{section}]"]
        for key, value in values.items():
            if isinstance(value, bool):
                literal = "true" if value else "false"
            elif isinstance(value, str):
                literal = json.dumps(value, ensure_ascii=False)  # JSON escapes are valid TOML escapes
            else:
                literal = repr(value)
            lines.append(f"{key} = {literal}")
    return "\n".join(lines) + "\n"


def with_overrides(cfg: AcceleratorConfig, overrides: Mapping[str, object]) -> AcceleratorConfig:
    """Returns ``cfg`` with some fields replaced, validated like a loaded file.

    Args:
        cfg: The base config.
        overrides: Dotted keys to new values, e.g. ``{"array.rows": 32, "formats.weight": "bf16"}``;
            ``"name"`` renames the chip.

    Raises:
        ValueError: An unknown key (the message lists the allowed ones) or an invalid result.
    """
    data = config_to_dict(cfg)
    source = f"<{cfg.name} with overrides>"
    for dotted, value in overrides.items():
        if dotted == "name":
            data["name"] = value
            continue
        section, _, key = dotted.partition(".")
        if section not in _SECTIONS or not key:
            raise ValueError(f"{source}: unknown override key {dotted!r}; allowed: name or <table>.<key> "
                             f"with table one of {', '.join(_SECTIONS)}")
        if key not in data[section]:
            raise ValueError(f"{source}: unknown override key {dotted!r}; allowed keys in [{section}]: "
                             f"{', '.join(data[section])}")
        data[section][key] = value
    return _build(data, source, Path.cwd())


def _build(data: Mapping, source: str, base_dir: Path) -> AcceleratorConfig:
    unknown = sorted(set(data) - {"name", *_SECTIONS})
    if unknown:
        raise ValueError(f"{source}: unknown key {unknown[0]!r}; allowed: name, "
                         f"{', '.join(f'[{s}]' for s in _SECTIONS)}")
    if "name" not in data:
        raise ValueError(f"{source}: name is missing; a hardware file needs a top-level name = \"...\"")
    name = data["name"]
    if not isinstance(name, str) or not name:
        raise ValueError(f"{source}: name must be a non-empty string, got {name!r}")
    sections = {}
    for section, cls in _SECTIONS.items():
        table = data.get(section, {})
        if not isinstance(table, Mapping):
            raise ValueError(f"{source}: {section} must be a table [{section}], got {table!r}")
        allowed = [f.name for f in fields(cls)]
        for key in table:
            if key not in allowed:
                raise ValueError(f"{source}: unknown key {section}.{key}; allowed keys in [{section}]: "
                                 f"{', '.join(allowed)}")
        sections[section] = cls(**{key: _check_value(f"{section}.{key}", value, source, base_dir)
                                   for key, value in table.items()})
    cfg = AcceleratorConfig(name=name, **sections)
    _check_accumulator(cfg.formats, source)
    if cfg.formats.scaling == "channel_pow2" and cfg.formats.master_weight == "none":
        raise ValueError(f"{source}: formats.scaling = 'channel_pow2' needs master weights (formats.master_weight "
                         "a float format such as 'fp32'); with 'none' the optimizer updates the weights per tensor")
    _check_sram(cfg, source)
    _check_compression(cfg, source)
    _check_group(cfg, source)
    return cfg


def _check_group(cfg: AcceleratorConfig, source: str) -> None:
    """Raises unless a skip group fills whole array rows where k maps to them (``ws``, ``is``)."""
    sparsity, array = cfg.sparsity, cfg.array
    if sparsity.skipping == "group" and array.dataflow is not Dataflow.OS and array.rows % sparsity.group:
        raise ValueError(f"{source}: sparsity.group = {sparsity.group} must divide array.rows = {array.rows} "
                         f"(k maps to the rows of a {array.dataflow.value} array)")


def _check_value(dotted: str, value: object, source: str, base_dir: Path) -> object:
    """Returns ``value`` checked and normalised (ints as floats where floats are expected)."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if dotted in _POSITIVE_INTS or dotted in _NON_NEGATIVE_INTS:
        lowest = 1 if dotted in _POSITIVE_INTS else 0
        if not is_int or value < lowest:
            what = "a positive integer" if lowest else "an integer ≥ 0"
            raise ValueError(f"{source}: {dotted} must be {what}, got {value!r}")
        return value
    if dotted == "clock.frequency_hz" and value == MAX_FREQUENCY:
        return value
    if dotted in _POSITIVE_FLOATS:
        if not (is_int or isinstance(value, float)) or not math.isfinite(value) or value <= 0:
            also = ' or "max"' if dotted == "clock.frequency_hz" else ""
            raise ValueError(f"{source}: {dotted} must be a finite positive number{also}, got {value!r}")
        return float(value)
    if dotted in _COMPRESSION_RATIOS:
        if value == NOMINAL:
            return value
        if not (is_int or isinstance(value, float)) or not 0 < value <= 1:
            raise ValueError(f"{source}: {dotted} must be a ratio in (0, 1] or \"nominal\", got {value!r}")
        return float(value)
    if dotted in _DENSITIES:
        if not (is_int or isinstance(value, float)) or not 0 < value <= 1:
            raise ValueError(f"{source}: {dotted} must be a density in (0, 1], got {value!r}")
        return float(value)
    if dotted in _BOOLS:
        if not isinstance(value, bool):
            raise ValueError(f"{source}: {dotted} must be true or false, got {value!r}")
        return value
    if dotted == "array.dataflow":
        if isinstance(value, Dataflow):
            return value
        return Dataflow(_choice(dotted, value, [d.value for d in Dataflow], source))
    if not isinstance(value, str):
        raise ValueError(f"{source}: {dotted} must be a string, got {value!r}")
    if dotted in _FORMAT_KEYS:
        _format(dotted, value, source)
    elif dotted == "formats.scaling":
        _choice(dotted, value, SCALINGS, source)
    elif dotted in ("formats.rounding", "formats.master_rounding"):
        _choice(dotted, value, ROUNDINGS, source)
    elif dotted in _ROLE_ROUNDINGS:
        _choice(dotted, value, ("", *ROUNDINGS), source)
    elif dotted in _COMPRESSION_SCHEMES:
        _choice(dotted, value, SCHEME_NAMES, source)
    elif dotted == "sparsity.skipping":
        _choice(dotted, value, SKIPPINGS, source)
    elif dotted == "formats.master_weight" and value != "none":
        if not _format(dotted, value, source).is_float:
            raise ValueError(f"{source}: {dotted} must be 'none' or a float format (fp32, bf16, fp16, ...), "
                             f"got {value!r}")
    elif dotted == "energy.table" and value:
        path = base_dir / value  # an absolute value replaces base_dir
        if not path.is_file():
            raise ValueError(f"{source}: {dotted} = {value!r}: no such file {str(path)!r}")
        return str(path.resolve())
    return value


def _choice(dotted: str, value: object, allowed: Sequence[str], source: str) -> str:
    if value not in allowed:
        raise ValueError(f"{source}: {dotted} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def _format(dotted: str, name: str, source: str) -> NumberFormat:
    try:
        return get_format(name)
    except ValueError as error:  # re-raised naming the key and the file
        raise ValueError(f"{source}: {dotted} = {name!r} is not a number format; valid formats: "
                         f"{', '.join(FORMAT_NAMES)}") from error


def _check_accumulator(formats: FormatsConfig, source: str) -> None:
    """Raises unless the accumulator holds every product of the operand pairs of a GEMM exactly.

    A float operand needs a float accumulator with ``sa + sb`` significand bits, or fp32 (a fused
    multiply-add keeps the product exact and rounds only the sum). Two integer operands with
    ``tensor_pow2`` scaling multiply their codes, whose largest product ``2**(wa-1) · 2**(wb-1)`` needs
    ``wa + wb`` bits in two's complement (int8 × int8: 16); a float accumulator needs ``(wa - 1) + (wb - 1)``
    significand bits. With ``scaling = "none"`` a fixed accumulator needs ``fa + fb`` fraction bits and
    ``(wa - fa) + (wb - fb)`` integer bits. Whether the *sums* then saturate is the data's business: the
    MAC counts every saturation.
    """
    acc = get_format(formats.accumulator)
    for role_a, role_b, gemm in _GEMM_PAIRS:
        a, b = get_format(getattr(formats, role_a)), get_format(getattr(formats, role_b))
        span = (CHANNEL_SPAN if formats.scaling == "channel_pow2" and "weight" in (role_a, role_b)
                else 2 * formats.block_span if formats.scaling == "block_pow2" else 0)
        needs = _accumulator_needs(a, b, acc, formats.scaling, span)
        if needs:
            raise ValueError(f"{source}: formats.accumulator = {acc.name!r} cannot hold the {gemm} GEMM's "
                             f"products of {role_a} {a.name} × {role_b} {b.name} exactly; needs {needs}")


def _accumulator_needs(a: NumberFormat, b: NumberFormat, acc: NumberFormat, scaling: str, span: int = 0) -> str:
    """Returns what the accumulator would need to hold ``a × b`` exactly, or ``""`` if it does;
    ``span``: the bits a product is shifted left by (``channel_pow2``: its channel's; ``block_pow2``:
    both its blocks')."""
    if a.is_float or b.is_float:
        bits = a.significand_bits + b.significand_bits
        if acc.is_float and (acc.significand_bits >= bits or acc.name == "fp32"):
            return ""
        return f"a float accumulator with ≥ {bits} significand bits, or fp32 (fused multiply-add)"
    float_bits = (a.width_bits - 1) + (b.width_bits - 1)
    float_ok = acc.is_float and acc.significand_bits >= float_bits
    if scaling != "none":  # integer codes multiply; no binary point takes part
        frac, acc_frac = 0, 0
    else:
        frac, acc_frac = a.frac_bits + b.frac_bits, acc.frac_bits
    integer = a.width_bits + b.width_bits - frac + span
    if float_ok or (not acc.is_float and acc_frac >= frac and acc.width_bits - acc_frac >= integer):
        return ""
    width = next((w for w in (16, 32, 48, 64) if w >= frac + integer), frac + integer)
    suggestion = {(16, 0): "int16", (32, 0): "int32"}.get((width, frac), f"fixed{width}_{frac}")
    bits = f"≥ {integer} bits" if frac == 0 else f"≥ {frac} fraction and ≥ {integer} integer bits"
    return (f"a fixed accumulator with {bits} (e.g. {suggestion}) "
            f" or a float one with ≥ {float_bits} significand bits")


def _check_compression(cfg: AcceleratorConfig, source: str) -> None:
    """Raises where an exponent scheme would compress a tensor class held in an integer format."""
    for role in ("weight", "activation", "gradient"):
        scheme = cfg.compression.scheme(role)
        fmt = getattr(cfg.formats, role)
        if scheme != "none" and SCHEMES[scheme].floats_only and not get_format(fmt).is_float:
            raise ValueError(f"{source}: compression.{role} = {scheme!r} codes float exponents, but formats.{role} "
                             f"= {fmt!r} is not a float format; use one of bitmask, rle, huffman or none")


def _bytes_per_element(name: str) -> int:
    return math.ceil(get_format(name).width_bits / 8)


def _check_sram(cfg: AcceleratorConfig, source: str) -> None:
    """Raises unless each buffer holds one tile of the array.

    Any operand can be the stationary one (a transposed or weight-gradient GEMM streams gradients and
    activations too), so the operand buffers are sized for the widest of weight, activation and
    gradient: the weight buffer holds ``rows × cols`` operands, the activation buffer a row of ``rows``
    operands double-buffered, the output buffer a row of ``cols`` accumulators double-buffered.
    """
    rows, cols = cfg.array.rows, cfg.array.cols
    f = cfg.formats
    operand = max((f.weight, f.activation, f.gradient), key=_bytes_per_element)
    operand_bytes, acc_bytes = _bytes_per_element(operand), _bytes_per_element(f.accumulator)
    minimums = (
        ("weight_bytes", rows * cols * operand_bytes, f"{rows}×{cols} {operand} operands"),
        ("activation_bytes", rows * operand_bytes * 2, f"2 rows of {rows} {operand} operands"),
        ("output_bytes", cols * acc_bytes * 2, f"2 rows of {cols} {f.accumulator} accumulators"),
    )
    for key, minimum, tile in minimums:
        size = getattr(cfg.sram, key)
        if size < minimum:
            raise ValueError(f"{source}: sram.{key} = {size} is smaller than one tile of the array; "
                             f"needs ≥ {minimum} bytes ({tile})")
