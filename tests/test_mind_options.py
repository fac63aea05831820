"""What a world decides about the mind that runs it: language and each persona's adapter."""

from __future__ import annotations

from pathlib import Path

from luotuo_rpg.llm.factory import MindOptions, for_world
from luotuo_rpg.world.loader import load_world_spec


def test_persona_adapters_resolve_beside_the_world_for_local_models_and_pass_as_names_to_servers(
    tiny_world: Path, tmp_path: Path
) -> None:
    text = tiny_world.read_text(encoding="utf-8").replace(
        '    color: "#e91e63"', '    color: "#e91e63"\n    adapter: lora/tong', 1
    )
    world = tmp_path / "town" / "world.yaml"
    (tmp_path / "town" / "lora" / "tong").mkdir(parents=True)
    world.write_text(text, encoding="utf-8")
    spec = load_world_spec(world)
    (name,) = [p.name for p in spec.personas if p.adapter]
    local = for_world(MindOptions(llm="local", local_model="/models/qwen"), spec, world)
    assert local.adapters == {name: str(tmp_path / "town" / "lora" / "tong")}
    served = for_world(MindOptions(llm="openai"), spec, world)
    assert served.adapters == {name: "lora/tong"}
    assert served.language == spec.world.language
