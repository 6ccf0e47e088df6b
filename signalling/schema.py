"""The JSON Schema of the signalling protocol, both directions (docs/signalling.schema.json)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from signalling.outbound import Outbound
from signalling.protocol import VERSION, Inbound


def json_schema() -> dict[str, Any]:
    """The JSON Schema of both directions, as kept in docs/signalling.schema.json."""
    inbound = TypeAdapter(Inbound).json_schema(ref_template="#/$defs/{model}")
    outbound = TypeAdapter(Outbound).json_schema(ref_template="#/$defs/{model}",
                                                 by_alias=True, mode="serialization")
    defs: dict[str, Any] = {}
    defs.update(inbound.pop("$defs", {}))
    defs.update(outbound.pop("$defs", {}))
    defs["ToServer"] = inbound
    defs["FromServer"] = outbound
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://rapport.example/signalling/v1.schema.json",
        "title": f"Rapport signalling protocol, version {VERSION}",
        "description": "Messages on the /signal WebSocket; see docs/signalling.md.",
        "oneOf": [{"$ref": "#/$defs/ToServer"}, {"$ref": "#/$defs/FromServer"}],
        "$defs": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":  # pragma: no cover - the generator
    from pathlib import Path

    target = Path(__file__).resolve().parent.parent / "docs" / "signalling.schema.json"
    target.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {target}")
