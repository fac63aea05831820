"""World authoring commands: ``schema``, ``new-world``, ``import-tiled``.

Every failure a user can cause (bad name or size, a file already there, a
Tiled map we cannot read) is one line on stderr and exit code 2, never a
traceback. The world modules are imported inside the handlers so that
``luotuo-rpg --help`` stays instant.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

USAGE_ERROR = 2
_SIZE = re.compile(r"^\s*(\d+)\s*[xX×*]\s*(\d+)\s*$")
# Characters that break a file name on some system; a world name may hold them, its file may not.
_BAD_FILE_CHARS = re.compile(r'[/\\:*?"<>|\x00-\x1f]')


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema of world files",
        description="Print the JSON Schema (draft 2020-12) of world YAML files, for editors and validators.",
    )
    schema.add_argument("--out", metavar="FILE", default="-", help="write to FILE instead of stdout")
    schema.set_defaults(func=_schema)

    new = sub.add_parser(
        "new-world",
        help="write a small valid world to start from",
        description="Write a small, valid, commented world: houses, a teahouse, a park, "
        "N placeholder residents and one scheduled event.",
    )
    new.add_argument("name", metavar="NAME", help="world name (also the file name: worlds/NAME.yaml)")
    new.add_argument("--agents", type=int, default=3, metavar="N", help="number of residents (default 3)")
    new.add_argument("--size", default="40x20", metavar="WxH", help="map size in tiles (default 40x20)")
    new.add_argument("--out", metavar="FILE", help="where to write (default worlds/NAME.yaml; - for stdout)")
    new.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    new.set_defaults(func=_new_world)

    tiled = sub.add_parser(
        "import-tiled",
        help="convert a Tiled JSON map (.tmj) into a world",
        description="Convert an orthogonal Tiled JSON map: tile layer 'collision' → walls; rectangles named "
        "area/room → rooms; area/room/object → objects; points named spawn:NAME → residents' start tiles.",
    )
    tiled.add_argument("map", metavar="MAP", help="Tiled map exported as JSON (.tmj or .json)")
    tiled.add_argument("--out", metavar="FILE", help="where to write (default worlds/MAP-NAME.yaml; - for stdout)")
    tiled.add_argument("--name", help="world name (default: the map's file name)")
    tiled.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    tiled.set_defaults(func=_import_tiled)


def _fail(command: str, message: str) -> int:
    print(f"luotuo-rpg {command}: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def _schema(args: argparse.Namespace) -> int:
    from luotuo_rpg.authoring.schema import schema_text

    text = schema_text()
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    return _write("schema", Path(args.out), text, force=True)


def _new_world(args: argparse.Namespace) -> int:
    from luotuo_rpg.authoring.scaffold import new_world

    match = _SIZE.match(args.size)
    if not match:
        return _fail("new-world", f"--size must look like 40x20 (width x height in tiles), got {args.size!r}")
    size = (int(match[1]), int(match[2]))
    name = args.name.strip()
    out = args.out
    if out is None:
        if not name or _BAD_FILE_CHARS.search(name) or name.startswith("."):
            return _fail("new-world", f"{args.name!r} cannot be a file name; choose another NAME or give --out FILE")
        out = str(Path("worlds") / f"{name}.yaml")
    try:
        text = new_world(name, agents=args.agents, size=size, schema_ref=_schema_ref(out))
    except ValueError as exc:
        return _fail("new-world", str(exc))
    if out == "-":
        sys.stdout.write(text)
        return 0
    code = _write("new-world", Path(out), text, force=args.force)
    if code == 0:
        print(
            f"wrote {out}: {args.agents} residents, {size[0]}x{size[1]} tiles.\n"
            f"next: luotuo-rpg validate {out} && luotuo-rpg run {out} --hours 1",
            file=sys.stderr,
        )
    return code


def _import_tiled(args: argparse.Namespace) -> int:
    from luotuo_rpg.authoring.tiled import TiledImportError, import_tiled_file

    source = Path(args.map)
    out = args.out or str(Path("worlds") / f"{source.stem}.yaml")
    try:
        result = import_tiled_file(source, name=args.name, schema_ref=_schema_ref(out))
    except TiledImportError as exc:
        return _fail("import-tiled", str(exc))
    if out == "-":
        sys.stdout.write(result.yaml_text)
    else:
        code = _write("import-tiled", Path(out), result.yaml_text, force=args.force)
        if code:
            return code
    spawns = ", ".join(f"{who} [{x}, {y}]" for who, (x, y) in result.spawns.items()) or "none"
    print(
        f"imported {source} → {'stdout' if out == '-' else out}: {result.width}x{result.height} tiles, "
        f"{len(result.rooms)} rooms, "
        f"{len(result.objects)} objects; spawn points: {spawns}.\n"
        "The residents are placeholders: write their background, routine and relationships (docs/worlds.md).",
        file=sys.stderr,
    )
    return 0


def _schema_ref(out: str) -> str | None:
    """Path of the committed schema as seen from ``out``, so the editor hint works wherever it is saved."""
    from luotuo_rpg.authoring.schema import SCHEMA_REF_FROM_WORLDS

    if out == "-":
        return SCHEMA_REF_FROM_WORLDS
    from luotuo_rpg.shipped import schema_file

    schema = schema_file()
    if not schema.is_file():
        return SCHEMA_REF_FROM_WORLDS
    try:
        return Path(os.path.relpath(schema, Path(out).resolve().parent)).as_posix()
    except ValueError:  # another drive on Windows: a relative path does not exist
        return schema.as_uri()


def _write(command: str, path: Path, text: str, *, force: bool) -> int:
    if path.exists() and not force:
        return _fail(command, f"{path} already exists; add --force to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        return _fail(command, f"cannot write {path}: {exc.strerror or exc}")
    return 0
