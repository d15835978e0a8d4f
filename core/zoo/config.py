"""Run configuration: defaults < the task's defaults < a TOML file < command-line flags.

The resolved configuration is written to every run folder as ``config.toml``, so
``zoo run --config RUN/config.toml`` repeats a run exactly.
"""

from __future__ import annotations

import difflib
import math
import os
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class RunConfig:
    """Every setting of ``zoo run``; see docs/configuration.md for each."""

    sks: str | None = None
    task: str | None = None
    estimator: str = "rge"
    executor: str = "serial"
    workers: int = 1
    steps: int = 200
    seed: int = 0
    out: str | None = None
    lr: float = 1e-2
    #: a row of zoo.optim.OPTIMIZERS; both variants, both modes (full-ZO: ZO-Adam, ZO-SGD, ...)
    optimizer: str = "adam"
    lr_schedule: str = "constant"
    mu_schedule: str = "constant"
    q_schedule: str = "constant"
    sparsity_schedule: str = "constant"
    baseline: bool = True
    #: train the SKS-coupled model; false trains the data-only twin alone (a baseline for a
    #: benchmark, e.g. another twin of the same task, without retraining the coupled model)
    coupled: bool = True
    checkpoint_every: int = 50
    eval_every: int = 10
    #: evaluations (every eval_every steps) without improvement of the validation metric
    #: after which a variant stops; 0 = never stop early
    early_stopping_patience: int = 0
    #: before the final test evaluation, restore the weights with the best validation metric;
    #: unset = true when early stopping is on (see restores_best)
    restore_best: bool | None = None
    #: the task's validate() metric to watch (lower is better); "" = val_ + the task's
    #: primary metric without its test_ prefix (test_mae -> val_mae)
    validation_metric: str = ""
    #: torch threads for the model; zoo's models are small, and on a busy machine extra
    #: threads cost more in hand-offs than they give (200 tiny steps: 5.2 s vs 0.28 s)
    threads: int = 1
    #: the most workers (and torch threads) a run may start; 0 = 4 x this machine's CPUs.
    #: A guard against typos such as --workers 100000, not a tuning knob
    workers_max: int = 0
    mode: str = "hybrid"
    #: "run" (RUN/cache.sqlite), "off", or a path shared across runs
    cache: str = "run"
    retries: int = 1
    on_failure: str = "skip"
    penalty: float = 0.0
    #: seconds per query, 0 = no limit (needs the processes or dask executor)
    sks_timeout: float = 0.0
    #: SKS queries the run may spend, 0 = no limit
    budget: int = 0
    #: address of an existing Dask scheduler, e.g. tcp://10.0.0.5:8786
    scheduler: str = ""
    sks_options: dict[str, Any] = field(default_factory=dict)
    task_options: dict[str, Any] = field(default_factory=dict)
    estimator_options: dict[str, Any] = field(default_factory=dict)
    optimizer_options: dict[str, Any] = field(default_factory=dict)
    executor_options: dict[str, Any] = field(default_factory=dict)
    schedule_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def restores_best(self) -> bool:
        """``restore_best``, or (unset) whether early stopping is on."""
        return self.early_stopping_patience > 0 if self.restore_best is None else self.restore_best

    @property
    def watches_validation(self) -> bool:
        """Whether a variant tracks its best validation metric (to stop, or to restore)."""
        return self.early_stopping_patience > 0 or self.restores_best

    def to_dict(self) -> dict[str, Any]:
        """A TOML-ready dict (None values dropped, since TOML has no null)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


FIELDS = {f.name: f for f in fields(RunConfig)}
MODES = ("hybrid", "full-zo")
#: what happens to a query that still fails after its retries (zoo.evaluation.FailurePolicy)
ON_FAILURE = ("skip", "penalty", "abort")
#: knobs a schedule can drive ([schedule_options.<knob>] tables)
SCHEDULED = ("lr", "mu", "q", "sparsity")
#: seeds are handed to torch and numpy, which take 0 <= seed < 2**63 and 2**32 x ... alike
SEED_LIMIT = 2**63


def default_workers_max() -> int:
    """4 x the CPUs: more local workers than that only queue, and 100000 would exhaust memory."""
    return 4 * (os.cpu_count() or 1)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a config file, turning every failure into one clear :class:`ConfigError`."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot read config file {str(path)!r}: it is not UTF-8 text ({exc.reason} at byte "
            f"{exc.start}); TOML files are UTF-8"
        ) from None
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc}") from None
    check_keys(data, source=str(path))
    return data


def check_keys(data: dict[str, Any], source: str) -> None:
    for key, value in data.items():
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{source}: unknown setting {key!r}{hint}; settings are {', '.join(FIELDS)}"
            )
        if key.endswith("_options") and value is not None and not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a table, e.g. [{key}]")
        if key == "schedule_options" and isinstance(value, dict):
            for knob, table in value.items():
                if knob not in SCHEDULED:
                    raise ConfigError(
                        f"{source}: schedule_options.{knob}: schedules drive {', '.join(SCHEDULED)}, "
                        f"not {knob!r}"
                    )
                if not isinstance(table, dict):
                    raise ConfigError(
                        f"{source}: schedule_options.{knob} must be a table of the schedule's "
                        f"options, e.g. [schedule_options.{knob}] final = 0.1; got {table!r}"
                    )


def resolve(*layers: dict[str, Any]) -> RunConfig:
    """Merge layers (later wins; ``*_options`` tables merge key by key) and check types."""
    from .deprecation import legacy_settings

    merged = legacy_settings(_merge(layers))
    config = RunConfig()
    for key, value in merged.items():
        setattr(config, key, _typed(key, value, getattr(config, key)))
    _check_numbers(config)
    _check_choices(config)
    return config


def _merge(layers: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        check_keys(layer, source="config")
        for key, value in layer.items():
            if value is None:
                continue
            if key.endswith("_options"):
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
    return merged


#: the types of settings whose default is None (``str | None`` -> str)
_TYPES = {"str": str, "bool": bool}


def _typed(key: str, value: Any, default: Any) -> Any:
    """``value`` as the type of the setting's default (an int where a float is wanted)."""
    expected = type(default) if default is not None else _TYPES[str(FIELDS[key].type).split(" | ")[0]]
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"setting {key!r} must be a {expected.__name__}, got {value!r}")
    return value


def _check_numbers(config: RunConfig) -> None:
    for key in ("lr", "penalty", "sks_timeout"):
        if not math.isfinite(getattr(config, key)):
            raise ConfigError(f"setting {key!r} must be a finite number, got {getattr(config, key)}")
    for key in ("steps", "workers", "threads"):
        if getattr(config, key) < 1:
            raise ConfigError(f"setting {key!r} must be >= 1, got {getattr(config, key)}")
    if not 0 <= config.seed < SEED_LIMIT:
        raise ConfigError(f"setting 'seed' must be between 0 and 2**63 - 1, got {config.seed}")
    if config.workers_max < 0:
        raise ConfigError(f"setting 'workers_max' must be >= 0 (0: 4 x the CPUs), got {config.workers_max}")
    if not (config.coupled or config.baseline):
        raise ConfigError("settings 'coupled' and 'baseline' are both false: nothing to train")
    limit = config.workers_max or default_workers_max()
    for key in ("workers", "threads"):
        if getattr(config, key) > limit:
            raise ConfigError(
                f"setting {key!r} = {getattr(config, key)} is more than the limit of {limit} "
                f"({'workers_max' if config.workers_max else '4 x this machine' + chr(39) + 's CPUs'}); "
                f"raise it with --workers-max N if you mean it"
            )
    for key in ("retries", "budget", "checkpoint_every", "eval_every", "early_stopping_patience"):
        if getattr(config, key) < 0:
            raise ConfigError(f"setting {key!r} must be >= 0, got {getattr(config, key)}")
    if config.watches_validation and not config.eval_every:
        raise ConfigError(
            "early stopping and restore_best look at the validation metric every eval_every "
            "steps; set eval_every >= 1 (or early_stopping_patience = 0, restore_best = false)"
        )
    if config.sks_timeout < 0:
        raise ConfigError(f"setting 'sks_timeout' must be >= 0 seconds, got {config.sks_timeout}")
    if config.lr <= 0:
        raise ConfigError(f"setting 'lr' must be > 0, got {config.lr}")


def _check_choices(config: RunConfig) -> None:
    from .optim import check_optimizer

    for key, choices in (("mode", MODES), ("on_failure", ON_FAILURE)):
        if getattr(config, key) not in choices:
            raise ConfigError(f"setting {key!r} must be one of {choices}, got {getattr(config, key)!r}")
    try:
        check_optimizer(config.optimizer, config.optimizer_options)
    except ConfigError as exc:
        raise ConfigError(f"setting 'optimizer': {exc}") from None


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from the command line; VALUE is read as TOML (numbers, lists, strings)."""
    if "=" not in text:
        raise ConfigError(f"option {text!r} must look like KEY=VALUE")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key.isidentifier():
        raise ConfigError(f"option name {key!r} is not a valid name")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: keep it as a string
    return key, value
