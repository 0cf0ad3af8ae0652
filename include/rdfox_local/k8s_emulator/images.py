"""The image map: what each container image runs on this machine.

An image is, to the emulator, a set of *programs* (what a container's command can name: ``python``,
``/bin/sh``, ``/opt/RDFox/RDFox``), each mapped to a local command prefix, plus an optional entrypoint used
when the container gives no command. An image that matches no entry cannot be "pulled".

File format (YAML)::

    inject_env:                       # every container gets these (like EKS's identity webhook); ${VAR} is
      AWS_ENDPOINT_URL: ${AWS_ENDPOINT_URL}   # taken from the emulator's environment, unset -> left out
    images:
      - match: "*rdfox-pipeline/prepare:*"    # fnmatch pattern on the image reference; first match wins
        programs:
          python: ["{python}"]                # {python}: the emulator's interpreter; {map_dir}: map dir
        entrypoint: ["python"]                # optional
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ImageMapError(ValueError):
    """The image map file is unusable; names the entry."""


@dataclass(frozen=True)
class ImageSpec:
    pattern: str
    programs: Mapping[str, tuple[str, ...]]
    entrypoint: tuple[str, ...] = ()

    def write_shims(self, bin_dir: Path) -> dict[str, str]:
        """One executable per program in ``bin_dir``; returns program name -> shim path."""
        bin_dir.mkdir(parents=True, exist_ok=True)
        shims: dict[str, str] = {}
        for program, prefix in self.programs.items():
            shim = bin_dir / Path(program).name
            shim.write_text(f'#!/bin/sh\nexec {shlex.join(prefix)} "$@"\n', encoding="utf-8")
            shim.chmod(0o755)
            shims[program] = str(shim)
        return shims


@dataclass(frozen=True)
class ImageMap:
    images: tuple[ImageSpec, ...]
    inject_env: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, image: str) -> ImageSpec | None:
        for spec in self.images:
            if fnmatch.fnmatchcase(image, spec.pattern):
                return spec
        return None

    def injected_env(self, environ: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, template in self.inject_env.items():
            refs = _ENV_REF.findall(template)
            if any(not environ.get(ref) for ref in refs):
                continue  # an unset variable means "not in this environment"
            out[name] = _ENV_REF.sub(lambda m: environ[m[1]], template)
        return out


def _expand(text: str, map_dir: Path) -> str:
    return text.replace("{python}", sys.executable).replace("{map_dir}", str(map_dir))


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ImageMapError(f"{where}: expected a non-empty list of strings")
    return tuple(value)


def parse_image_map(document: Any, map_dir: Path) -> ImageMap:
    if not isinstance(document, Mapping) or not isinstance(document.get("images"), list):
        raise ImageMapError("image map: expected a mapping with an 'images' list")
    specs = []
    for index, entry in enumerate(document["images"]):
        where = f"images[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("match"), str):
            raise ImageMapError(f"{where}: expected a mapping with a 'match' pattern")
        programs = entry.get("programs") or {}
        if not isinstance(programs, Mapping) or not programs:
            raise ImageMapError(f"{where}.programs: expected a non-empty mapping of program -> command")
        specs.append(
            ImageSpec(
                pattern=entry["match"],
                programs={
                    str(name): tuple(_expand(p, map_dir) for p in _str_list(cmd, f"{where}.programs.{name}"))
                    for name, cmd in programs.items()
                },
                entrypoint=_str_list(entry["entrypoint"], f"{where}.entrypoint")
                if entry.get("entrypoint")
                else (),
            )
        )
    inject = document.get("inject_env") or {}
    if not isinstance(inject, Mapping) or not all(isinstance(v, str) for v in inject.values()):
        raise ImageMapError("inject_env: expected a mapping of name -> string")
    return ImageMap(tuple(specs), {str(k): v for k, v in inject.items()})


def load_image_maps(paths: Sequence[Path]) -> ImageMap:
    """Several files: entries of later files are tried first (a test map can override the shipped one)."""
    images: list[ImageSpec] = []
    inject: dict[str, str] = {}
    for path in paths:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ImageMapError(f"{path}: {exc}") from None
        parsed = parse_image_map(document, path.resolve().parent)
        images[:0] = parsed.images
        inject.update(parsed.inject_env)
    return ImageMap(tuple(images), inject)


def default_image_map_path() -> Path:
    return Path(__file__).with_name("image-map.yaml")


def environ() -> Mapping[str, str]:
    return os.environ
