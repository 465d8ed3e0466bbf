"""Edition parameters: ``params/<edition>.yaml`` validated with pydantic.

An unknown key, a wrong type or an impossible value stops with a message naming the key."""
from __future__ import annotations

import datetime as dt
import functools
import os
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from .paths import REPO


class ParamsError(ValueError):
    """The parameters file (or an override) is wrong; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Strict):
    source: Literal["simulated", "directory", "mapping"] = "simulated"
    path: str | None = Field(None, description="directory of Parquet/CSV tables when source=directory")
    mapping: str | None = Field(None, description="mapping file (YAML) saying how the company's "
                                "exports become contract tables, when source=mapping (docs/mapping.md)")
    quarantine: bool = Field(False, description="source=mapping: set rows that break a mapping rule "
                             "aside in _rejected/<table>.parquet instead of stopping")

    @model_validator(mode="after")
    def _path_for_directory(self):
        if self.source == "directory" and not self.path:
            raise ValueError("data.path is required when data.source is 'directory'")
        if self.source == "mapping" and not self.mapping:
            raise ValueError("data.mapping is required when data.source is 'mapping' "
                             "(the path of the mapping file, e.g. params/examples/online_retail.mapping.yaml)")
        return self


class ScaleParams(_Strict):
    users: int = Field(100_000, ge=1_000, le=50_000_000, description="users in the edition year")


class PrivacyParams(_Strict):
    min_group_size: int = Field(50, ge=1, description="groups smaller than this are suppressed")


class RunParams(_Strict):
    workers: int = Field(0, ge=0, le=64, description="parallel chapters; 0 = number of cores")
    cell_timeout: int = Field(600, ge=1, description="seconds a cell may run before it is stopped")
    kernel: str = "fission"


class EngineParams(_Strict):
    """Where the analyses' SQL runs (fission.engine): DuckDB in-process (the default), or Apache
    Spark — local, a cluster (``master``) or a Spark Connect server (``remote``)."""
    kind: Literal["duckdb", "spark"] = "duckdb"
    master: str = Field("local[2]", description="spark: the master URL (local[N], spark://…, yarn, k8s://…)")
    remote: str | None = Field(None, description="spark: a Spark Connect server, e.g. sc://host:15002 "
                               "(instead of master)")
    data_path: str | None = Field(None, description="spark: where the cluster reads the staged tables "
                                  "(s3a://…, hdfs://…, a shared path); default: the staged folder")
    conf: dict[str, str] = Field(default_factory=dict, description="spark: extra Spark configuration")
    driver_sample: int | None = Field(
        None, ge=1_000, description="at most this many users reach a step run in the driver "
        "(Cox, CLV, the recommenders' training, chapter 3's referral cascades as whole trees by "
        "md5 of the root): a seeded sample, stated in the chapter. Default: each chapter's own "
        "(CLV 30k customers, recommender training 300k users, Cox all buyers, cascades every tree)")


class Edition(_Strict):
    edition: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$")
    # title and subtitle come from the words of the edition's language
    # (notebooks/words/common.<lang>.yaml, report.title); set them here only to override
    title: str | None = Field(None, description="overrides the title; {year} is replaced")
    subtitle: str | None = None
    year: int = Field(..., ge=2000, le=2100)
    compare_year: int = Field(..., ge=2000, le=2100)
    date: dt.date | None = Field(None, description="the report's date (YYYY-MM-DD); default: the day it is built")
    language: Literal["zh", "en"] = "zh"
    data: DataParams = DataParams()
    scale: ScaleParams = ScaleParams()
    seed: int = Field(..., ge=0)
    privacy: PrivacyParams = PrivacyParams()
    chapters: list[str] = Field(..., min_length=1)
    run: RunParams = RunParams()
    engine: EngineParams = EngineParams()

    @field_validator("edition", mode="before")
    @classmethod
    def _edition_name(cls, v):
        return str(v) if isinstance(v, int) else v   # `-p edition=2026` arrives as a number

    @model_validator(mode="after")
    def _years(self):
        if self.compare_year >= self.year:
            raise ValueError(f"compare_year ({self.compare_year}) must be before year ({self.year})")
        # an edition named for a year builds that year: "2025" with year 2026 would stage and
        # publish 2026 under the 2025 edition's name
        named = re.search(r"(?<!\d)(19|20)\d{2}(?!\d)", self.edition)
        if named and int(named.group(0)) != self.year:
            raise ValueError(
                f"edition {self.edition!r} is named for {named.group(0)} but year is {self.year}: "
                f"name the edition for its year (e.g. -p edition={self.year}) or set year: "
                f"{named.group(0)}")
        return self

    @field_validator("chapters")
    @classmethod
    def _chapters_exist(cls, v, info: ValidationInfo):
        notebooks = Path((info.context or {}).get("notebooks", REPO / "notebooks"))
        missing = [c for c in v if not (notebooks / f"{c}.ipynb").exists()]
        if missing:
            raise ValueError(f"no notebook notebooks/<name>.ipynb for: {', '.join(missing)}")
        if len(set(v)) != len(v):
            raise ValueError("a chapter is listed twice")
        return v

    def full_title(self, words=None) -> str:
        """The title in the edition's language (the override in the parameters, if any)."""
        if self.title:
            return self.title.format(year=self.year)
        from .words import Words
        words = words or Words(None, self.language, self.template_context())
        return words.render("report.title", markdown=False)

    def full_subtitle(self, words=None) -> str:
        if self.subtitle:
            return self.subtitle.format(year=self.year)
        from .words import Words
        words = words or Words(None, self.language, self.template_context())
        return words.render("report.subtitle", markdown=False)

    @property
    def place(self) -> str:
        """The edition's folder under report/_build and report/_output: its name, with the
        language appended when it is not Chinese (2025, 2025-en), so the English edition
        never replaces the Chinese one."""
        return self.edition if self.language == "zh" else f"{self.edition}-{self.language}"

    def template_context(self) -> dict:
        """What the words see of the edition (``ed`` in a template)."""
        return {"edition": self.edition, "year": self.year, "compare_year": self.compare_year,
                "language": self.language, "min_group_size": self.privacy.min_group_size,
                "simulated": self.simulated, "currency": self.currency}

    @property
    def currency(self) -> str:
        """The currency of the data's amounts (ISO 4217): the mapping's, CNY otherwise; amounts
        are never converted, so the book writes them in this currency."""
        if self.data.source != "mapping" or not self.data.mapping:
            return "CNY"
        path = Path(self.data.mapping)
        path = path if path.is_absolute() else REPO / path
        try:
            return _mapping_currency(path, path.stat().st_mtime_ns)
        except OSError:
            return "CNY"         # staging reports the unreadable mapping with what to do

    @property
    def simulated(self) -> bool:
        return self.data.source == "simulated"

    @property
    def workers(self) -> int:
        if self.run.workers:
            return self.run.workers
        # a Spark driver per chapter would compete for the same cores: one chapter at a time
        return 1 if self.engine.kind == "spark" else (os.cpu_count() or 1)

    def notebook_parameters(self, staged_dir: Path) -> dict:
        """What papermill injects into each chapter's ``parameters`` cell."""
        return {
            "edition": self.edition, "year": self.year, "compare_year": self.compare_year,
            "language": self.language, "data_dir": str(staged_dir),
            "min_group_size": self.privacy.min_group_size, "simulated": self.simulated,
            "currency": self.currency, "engine": self.engine.model_dump(),
        }


@functools.lru_cache(maxsize=8)
def _mapping_currency(path: Path, mtime_ns: int) -> str:
    """A mapping's currency, read once per version of the file (asked several times a render)."""
    return str((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("currency") or "CNY")


def _set(d: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
        if not isinstance(d, dict):
            raise ParamsError(f"override {dotted!r}: {k!r} is not a section")
    d[keys[-1]] = value


def _yaml(text: str, where: str):
    """``yaml.safe_load``, a syntax error becoming one line: what, where, what to do."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        pm, cm = getattr(e, "problem_mark", None), getattr(e, "context_mark", None)
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        at = f" at line {pm.line + 1}, column {pm.column + 1}" if pm else ""
        ctx = f" ({e.context} started at line {cm.line + 1})" if cm and getattr(e, "context", None) else ""
        raise ParamsError(f"{where} is not valid YAML: {what}{at}{ctx}; fix that line "
                          "(params/default.yaml shows the layout)") from None


def _known_keys(loc: tuple) -> list[str]:
    """The keys allowed where an unknown key ``loc`` was found (its section's fields)."""
    model = Edition
    for part in loc[:-1]:
        model = getattr(model, "model_fields", {}).get(part)
        model = getattr(model, "annotation", None)
    return list(getattr(model, "model_fields", {}))


def load(path: str | Path = "params/default.yaml", overrides: list[str] = (),
         notebooks: Path | None = None) -> Edition:
    """Read and validate an edition; ``overrides`` are ``key.sub=value`` strings (YAML values)."""
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = REPO / path
    if not path.exists():
        raise ParamsError(f"parameters file {path} does not exist; copy params/default.yaml to start one")
    raw = _yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of keys to values")
    for item in overrides:
        if "=" not in item:
            raise ParamsError(f"override {item!r}: write it as key=value, e.g. scale.users=20000")
        key, value = item.split("=", 1)
        _set(raw, key.strip(), _yaml(value, f"override {item!r}"))
    try:
        return Edition.model_validate(raw, context={"notebooks": notebooks or REPO / "notebooks"})
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            got = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            known = _known_keys(err["loc"]) if err["type"] == "extra_forbidden" else []
            lines.append(f"  {key}: {msg}{got}" + (f"; known keys here: {', '.join(known)}" if known else ""))
        raise ParamsError(f"{path} is not a valid edition:\n" + "\n".join(lines)) from None
