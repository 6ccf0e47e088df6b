"""The base models every feature's schemas build on: strict input, output read from rows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2026-11-22T14:30:00+00:00 or ...Z")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
# Deliberately simple: internal services use reserved domains (.local, .internal) that
# strict validators refuse, and the address is only ever a sign-in name here.
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


