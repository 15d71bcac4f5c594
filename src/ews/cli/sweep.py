"""`ews sweep`: one run per value of a parameter (paper Fig. 5 and 6), or a study (variants x seeds).

The runs train where `--backend` says: this machine, a Ray cluster or SLURM; a sweep whose
runs failed there names each with its log and exits with code 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .common import add_set_option, example, int_list, name_list

if TYPE_CHECKING:
    from ..analysis.backends import BackendOptions


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The `sweep` subcommand: what is swept or studied, then where its runs train."""
    sweep = commands.add_parser(
        "sweep", help="one run per value of a parameter (paper Fig. 5 and 6), or a study: variants x seeds",
        **example("sweep"))
    sweep.add_argument("--config", type=Path, help="base YAML config")
    add_set_option(sweep, "override a base config key")
    sweep.add_argument("--param", help="a numeric config key, e.g. ews.K, ews.lam, ews.rho")
    sweep.add_argument("--values", type=name_list, default=[], help="comma list, e.g. 1,5,10,20,50")
    sweep.add_argument("--study", type=Path, metavar="FILE",
                       help="study YAML: seeds, reference, base, variants, evaluate, analysis (configs/studies/)")
    sweep.add_argument("--variant", action="append", default=[], metavar="'NAME: KEY=VALUE ...'",
                       help="add a study variant from the command line (repeatable)")
    sweep.add_argument("--reference", help="study variant that differences are paired with")
    sweep.add_argument("--seeds", type=int_list, help="study seeds, e.g. 1-5 or 1,2,3 (replaces the file's)")
    sweep.add_argument("--out", type=Path, required=True, help="sweep or study folder: one run folder per run")
    _add_backend_options(sweep)
    sweep.set_defaults(func=run)


def _add_backend_options(sweep: argparse.ArgumentParser) -> None:
    """The "where the runs train" group: `--backend` and the options each backend reads."""
    where = sweep.add_argument_group(
        "where the runs train", "local (default): this machine; ray: one Ray task per run; slurm: one SLURM job\n"
        "per run (submitit). Every backend gives a run --cpus-per-run threads, so a study's\n"
        "numbers are the same on each.")
    where.add_argument("--backend", choices=("local", "ray", "slurm"), default="local",
                       help="local, ray (pip install 'ews-robust[ray]') or slurm (pip install 'ews-robust[slurm]')")
    where.add_argument("--jobs", type=int, metavar="N", help="local: worker processes, each with --cpus-per-run threads and, "
                                                "on a GPU machine, its own device (default 1)")
    where.add_argument("--cpus-per-run", type=int, metavar="N",
                       help="threads of each run, and the CPUs it asks a cluster for (default 1 on every backend: "
                            "a run's numbers depend on its thread count)")
    where.add_argument("--gpus-per-run", type=int, metavar="N", help="ray, slurm: GPUs each run asks for (default 0)")
    where.add_argument("--max-retries", type=int, metavar="N",
                       help="ray, slurm: restarts of a run whose worker or job died; it resumes from its checkpoint "
                            "(default 3)")
    where.add_argument("--ray-address", metavar="HOST:PORT",
                       help="ray: the cluster's head (or auto); default: start Ray on this machine")
    where.add_argument("--slurm-partition", metavar="NAME", help="slurm: the partition the jobs go to")
    where.add_argument("--slurm-time", metavar="TIME",
                       help="slurm: each job's time limit, e.g. 4:00:00 or 1-00:00:00; a job that reaches it is "
                            "requeued and resumes (default 4:00:00)")
    where.add_argument("--slurm-flag", action="append", default=[], metavar="KEY=VALUE",
                       help="slurm: a further sbatch option, repeatable, e.g. account=proj or constraint=a100")


def _backend(args: argparse.Namespace) -> BackendOptions:
    """`--backend` and its options, checked before anything is planned or written."""
    from ..analysis.backends import BackendOptions

    return BackendOptions(
        name=args.backend, jobs=args.jobs, cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
        max_retries=args.max_retries, ray_address=args.ray_address, slurm_partition=args.slurm_partition,
        slurm_time=args.slurm_time, slurm_flags=tuple(args.slurm_flag)).check()


def run(args: argparse.Namespace) -> int:
    """A study when `--study` or `--variant` is given, else one run per `--values` item of `--param`."""
    backend = _backend(args)
    if args.study is not None or args.variant:
        return _study(args, backend)
    if args.param is None or not args.values:
        raise ConfigError("ews sweep needs --param and --values, or a study (--study FILE or --variant)")
    from ..analysis.sweep import run_sweep

    result = run_sweep(args.config, overrides=args.set, param=args.param, values=args.values, out=args.out,
                       backend=backend)
    print(f"{args.param:>12} {'clean error':>12} {'train s':>9}")
    for point in result["points"]:
        print(f"{point['text']:>12} {point['clean_error']:12.2f} {point['train_seconds']:9.1f}")
    print(f"sweep.json, sweep.png and sweep.md in {args.out}")
    return 0


def _study(args: argparse.Namespace, backend: BackendOptions) -> int:
    """The study file's variants, with `--variant`, `--reference` and `--seeds` laid over it, run and summarised."""
    from ..analysis.report import to_markdown
    from ..analysis.study import build_spec, run_study
    from ..analysis.study.report import study_blocks
    from ..analysis.study.spec import parse_variant
    from ..config import read_yaml

    if args.param is not None or args.values:
        raise ConfigError("--param/--values sweep one key; a study (--study/--variant) names its variants instead")
    data = read_yaml(args.study) if args.study is not None else {}
    data["variants"] = {**(data.get("variants") or {}), **dict(parse_variant(v) for v in args.variant)}
    if args.reference is not None:
        data["reference"] = args.reference
    spec = build_spec(data, seeds=args.seeds)
    results = run_study(args.config, spec, overrides=args.set, out=args.out, backend=backend)
    print(to_markdown(study_blocks(results)[:3]))
    print(f"study.json, study.md, study.html and study.png in {args.out}")
    return 0
