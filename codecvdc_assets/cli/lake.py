"""`codecvdc sql`, `compact`, `verify`: query the catalog, compact the lake, check its files."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from codecvdc_assets.cli.common import (
    CliError,
    cli_home,
    load_definitions,
    print_rows,
)


def add_parsers(sub) -> None:
    p = sub.add_parser("sql", help="query the catalog (read-only)")
    p.add_argument("query", nargs="?", metavar="QUERY")
    p.add_argument("-f", "--file", metavar="FILE", help="run the statements of a SQL file")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("compact", help="fold per-video lake files into a few large files per table")
    p.add_argument("--table", action="append", help="only this table (repeatable; default: all)")
    p.set_defaults(func=cmd_compact)

    p = sub.add_parser("verify", help="read every lake file against its recorded checksum")
    p.add_argument(
        "--repair",
        action="store_true",
        help="move damaged files aside and mark their partitions damaged, so `run --stale` re-materializes them",
    )
    p.add_argument("--profile", metavar="NAME")
    p.set_defaults(func=cmd_verify)


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from codecvdc_assets.defs.resources import open_lake
    from codecvdc_assets.storage.catalog import connect

    if bool(args.query) == bool(args.file):
        raise CliError("give either a QUERY or -f FILE")
    if args.file:
        try:
            text = Path(args.file).read_text()
        except OSError as exc:
            raise CliError(f"{args.file}: {exc.strerror}") from exc
    else:
        text = args.query
    home = cli_home()
    con = None
    try:
        con = connect(home, read_only=True, lake=open_lake(home))  # (re)building the views reads the lake's files too
        statements = con.extract_statements(text)
        # The file is opened read-only, but COPY ... TO, EXPORT, ATTACH, INSTALL/LOAD and SET would still
        # write files, reach other databases or change settings: only queries run here.
        for i, statement in enumerate(statements, 1):
            if statement.type not in (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN):
                kind = statement.type.name
                raise CliError(f"sql: statement {i} is {kind}, refused: the catalog is read-only (queries only)")
        con.execute("SET autoinstall_known_extensions = false")  # a query never downloads an extension
        con.execute("SET lock_configuration = true")
        for i, statement in enumerate(statements):
            rel = con.execute(statement.query)
            if rel.description is None:
                continue
            columns = [d[0] for d in rel.description]
            rows = rel.fetchall()
            if i and args.format == "table":
                print()
            print_rows(columns, rows, args.format)
    except duckdb.Error as exc:
        raise CliError(f"sql: {str(exc).splitlines()[0]}") from exc
    finally:
        if con is not None:
            con.close()
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    from codecvdc_assets.storage.compaction import compact

    home = cli_home()
    try:
        results = compact(load_definitions(home).resources["lake"].lake().root, args.table)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    for r in results:
        print(f"{r.table}: {r.files} files into {r.buckets} buckets, {r.retired} retired, {r.seconds:.1f} s")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from codecvdc_assets.storage import integrity
    from codecvdc_assets.storage.failures import record_damage

    home = cli_home()
    defs = load_definitions(home)
    lake = defs.resources["lake"].lake()
    assets = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    started = time.perf_counter()
    report = integrity.verify(lake.blobs, _compacted_check(lake) if lake.is_local else None)
    for damage in report.damaged:
        print(f"damaged: {damage.line()}")
    seconds = time.perf_counter() - started
    print(f"{report.checked} lake file(s) read in {seconds:.1f} s: {len(report.damaged)} damaged or missing")
    if not report.damaged:
        return 0
    if not args.repair:
        print("repair: codecvdc verify --repair (moves them aside; `codecvdc run --stale` re-materializes them)")
        return 1
    marked: set[tuple[str, str]] = set()
    for damage in report.damaged:
        targets = integrity.partitions_of(damage, lake.blobs, assets)  # (a bucket's index goes with it)
        moved = integrity.quarantine(lake.blobs, damage)
        for video_id, asset in targets:
            record_damage(lake, video_id, asset, f"{damage.uri}: {damage.reason}")
        marked.update(targets)
        where = f"moved to {moved}" if moved else "gone"
        what = ", ".join(f"{a} of {v}" for v, a in targets) or "no partition (rebuilt on the next write)"
        print(f"repaired: {damage.uri}: {where}; marked damaged: {what}")
    from codecvdc_assets.schemas import TABLE_SCHEMAS

    for table in TABLE_SCHEMAS:  # a quarantined zero-row schema file is made again now (views need it)
        lake.ensure_schema_file(table, recheck=True)
    print(f"{len(marked)} partition(s) marked damaged: `codecvdc run --stale` re-materializes them")
    return 0


def _compacted_check(lake):
    from codecvdc_assets.storage.lake import compacted_exists

    def folded(key: str) -> bool:
        parts = key.split("/")
        if len(parts) != 4 or not parts[2].startswith("video_id="):
            return False
        _, table, folder, name = parts
        return compacted_exists(lake.table_dir(table), folder.removeprefix("video_id="), name)

    return folded
