"""The argument parser: every command, its options and its help text (no heavy import: `--help` stays fast)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import __version__

SETTINGS_HELP = "settings file (default: ./settings.json); relative paths in it resolve against its folder"


def build_parser() -> argparse.ArgumentParser:
    """facetui's parser: the top-level options and one sub-parser per command (``args.command``; None: the app)."""
    common, engine = _shared_options()
    p = argparse.ArgumentParser(
        prog="facetui",
        description="Sort a photo library by the people in it. With no command, opens the terminal app.",
        epilog="Examples:\n  facetui kb build\n  facetui recognize --input ~/Photos/2024 --output ~/Sorted\n"
        "  facetui review --list\n  facetui   (opens the app)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--settings",
        type=Path,
        default=Path("settings.json"),
        metavar="PATH",
        help=SETTINGS_HELP,
    )
    p.add_argument("--version", action="version", version=f"facetui {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    _add_kb(sub, common, engine)
    _add_recognize(sub, common, engine)
    _add_review(sub, common)
    _add_eval(sub, common, engine)
    _add_small(sub, common)
    return p


def _shared_options() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """(--settings for every command, --engine/--address for the commands that analyse photos), as parents."""
    # --settings may stand before or after the command; SUPPRESS keeps a subparser from resetting it to the default
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--settings",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="PATH",
        help=SETTINGS_HELP,
    )
    # where the per-photo work runs, for the commands that analyse photos (overrides the settings file for this run)
    engine = argparse.ArgumentParser(add_help=False)
    engine.add_argument(
        "--engine",
        choices=("local", "ray"),
        default=argparse.SUPPRESS,
        help="local worker processes (default) or a Ray cluster (needs: pip install 'facetui[ray]')",
    )
    engine.add_argument(
        "--address",
        default=argparse.SUPPRESS,
        metavar="auto|HOST:PORT",
        help="with --engine ray: the cluster to join (default: settings' ray_address; empty starts a local Ray)",
    )
    return common, engine


def _add_kb(sub, common: argparse.ArgumentParser, engine: argparse.ArgumentParser) -> None:
    kb = sub.add_parser("kb", help="knowledge base commands", parents=[common])
    kbsub = kb.add_subparsers(dest="kb_command", metavar="ACTION", required=True)
    kbsub.add_parser(
        "build",
        parents=[common, engine],
        help="encode dataset_dir/<Person>/* into the KB (incremental: only new or changed photos)",
    )
    kbsub.add_parser("show", parents=[common], help="print who is in the KB and how many faces/bodies each")


def _add_recognize(sub, common: argparse.ArgumentParser, engine: argparse.ArgumentParser) -> None:
    rec = sub.add_parser("recognize", parents=[common, engine], help="sort a folder of photos by person (headless)")
    rec.add_argument("--input", type=Path, help="folder to sort (default: process_dir)")
    rec.add_argument("--output", type=Path, help="where to file copies (default: processed_dir)")
    rec.add_argument("--quiet", action="store_true", help="print only the summary")


def _add_review(sub, common: argparse.ArgumentParser) -> None:
    rev = sub.add_parser(
        "review",
        parents=[common],
        help="the unknowns of the latest run: list them, cluster them, or file one by name (headless)",
    )
    rev.add_argument("--output", type=Path, help="the run's output folder (default: processed_dir)")
    what = rev.add_mutually_exclusive_group()
    what.add_argument("--list", action="store_true", help="print each unknown face with its top-3 candidates (default)")
    what.add_argument(
        "--clusters",
        action="store_true",
        help="print the unknown faces grouped by likeness (average linkage at cluster_tol; two faces of one photo "
        "never share a group), biggest group first, each face's mean distance to the others and the outliers",
    )
    what.add_argument(
        "--name-cluster",
        nargs=2,
        metavar=("N", "NAME"),
        help="file every face of cluster N (as --clusters numbers them) under NAME in one decision (one --undo "
        "takes it back) and add them to the KB; see --exclude",
    )
    what.add_argument(
        "--assign",
        nargs=2,
        metavar=("FILE", "NAME"),
        help="file FILE (as the report names it) under NAME, log it and add the face to the KB",
    )
    what.add_argument("--undo", action="store_true", help="take back the last review decision")
    rev.add_argument(
        "--face", type=int, metavar="N", help="with --assign: the face index (default: the largest unknown face)"
    )
    rev.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="FILE[:FACE]",
        help="with --name-cluster: leave this face out (repeatable); it stays Unknown and never joins NAME",
    )


def _add_eval(sub, common: argparse.ArgumentParser, engine: argparse.ArgumentParser) -> None:
    ev = sub.add_parser(
        "eval",
        parents=[common, engine],
        help="score the settings on labelled photos: sweeps of face_tol, face_margin, face_k and "
        "lap_var_thresh, and the best combination with no wrong filing (files nothing)",
    )
    ev.add_argument(
        "--truth",
        type=Path,
        metavar="FILE",
        help="labels: a CSV 'file,expected' (people joined by ';', or Unknown), or a folder of <Person>/ folders",
    )
    ev.add_argument("--input", type=Path, help="folder the CSV's files are in (default: process_dir)")
    ev.add_argument(
        "--kb",
        action="store_true",
        help="also (or only) advise a tolerance from the KB itself: leave each KB photo out in turn",
    )
    ev.add_argument(
        "--tols", metavar="LIST", help="face_tol values: '0.4,0.5,0.6' or 'start:stop:step' (default 0.3:0.8:0.05)"
    )
    ev.add_argument(
        "--rules",
        action="store_true",
        help="also compare the candidate decision rules (nearest photo, margin, several KB photos agreeing)",
    )
    ev.add_argument(
        "--clusters",
        action="store_true",
        help="also cluster the faces the settings leave Unknown (as review --clusters does) over a sweep of "
        "cluster_tol: BCubed precision and recall, the share a user could name safely, the largest and largest mixed "
        "cluster, and the advised value (an Unknown photo's face is labelled by an LFW-style <Name>_NNNN file name)",
    )
    ev.add_argument("--cluster-tols", metavar="LIST", help="cluster_tol values for --clusters (default 0.35:0.6:0.025)")
    ev.add_argument(
        "--apply",
        action="store_true",
        help="write the advised settings into the settings file (prints each change; other keys kept)",
    )
    ev.add_argument(
        "--detectors",
        metavar="LIST",
        help="compare face detectors instead ('hog,cnn'): each builds its own KB (under OUTPUT/eval-detectors/, the "
        "KB in use is not touched) and is scored at the settings in use: recall, wrong filings, faces found, time",
    )
    ev.add_argument("--output", type=Path, help="where eval.csv and eval-run.toml go (default: processed_dir)")


def _add_small(sub, common: argparse.ArgumentParser) -> None:
    """status, keys and settings."""
    sub.add_parser("status", parents=[common], help="the settings in use, the KB, and the last run (from its manifest)")

    sub.add_parser(
        "keys",
        parents=[common],
        help="the app's key bindings by id, with keymap.toml (beside the settings file) applied and checked",
    )

    sett = sub.add_parser("settings", parents=[common], help="check the settings file, or print the settings reference")
    sett.add_argument(
        "--reference", action="store_true", help="print every setting with its default and meaning (Markdown)"
    )
