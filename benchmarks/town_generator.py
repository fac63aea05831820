"""Generated towns of any size for benchmarks: blocks of homes around streets and a few public places."""

from __future__ import annotations

import math

from luotuo_rpg.world.spec import WorldSpec

PUBLIC = (("集市", "摊位"), ("茶馆", "茶堂"), ("客栈", "大堂"), ("医馆", "诊室"), ("学堂", "私塾"), ("铁匠铺", "铺面"))
TRAITS = (["勤快", "爱聊天"], ["稳重", "寡言"], ["热心", "嘴碎"], ["机灵", "贪玩"])
JOBS = ("卖菜", "喝茶听书", "招呼客人", "看病抓药", "读书", "打铁")


def generate_town(agents: int, seed: int = 0) -> WorldSpec:
    """A town where every 4 agents share a 6×4 home; homes and public halls sit on a
    lattice of streets, so paths are long enough to matter."""
    homes = math.ceil(agents / 4)
    cells = homes + len(PUBLIC)
    cols = math.ceil(math.sqrt(cells))
    rows_n = math.ceil(cells / cols)
    cw, ch = 8, 6  # cell: 6×4 room + wall ring + street
    width, height = cols * cw + 1, rows_n * ch + 1
    grid = [[","] * width for _ in range(height)]
    areas = []
    places = []
    for index in range(cells):
        cx, cy = (index % cols) * cw + 1, (index // cols) * ch + 1
        for y in range(cy, cy + 5):
            for x in range(cx, cx + 7):
                wall = y in (cy, cy + 4) or x in (cx, cx + 6)
                grid[y][x] = "#" if wall else "."
        grid[cy + 4][cx + 3] = "."  # door on the south wall, onto the street
        rect = [cx + 1, cy + 1, 5, 3]
        if index < len(PUBLIC):
            area, room = PUBLIC[index]
            areas.append({"name": area, "color": "#90a4ae", "rooms": [{"name": room, "rect": rect}]})
        else:
            name = f"民宅{index - len(PUBLIC) + 1}"
            areas.append({"name": name, "color": "#bcaaa4", "public": False, "rooms": [{"name": "屋里", "rect": rect}]})
            places.append(f"{name}/屋里")
    areas.append({"name": "街道", "color": "#d7ccc8", "rooms": [{"name": "大街", "rect": [0, 0, width, 1]}]})
    personas = []
    for i in range(agents):
        home = places[i // 4]
        job_index = (i + seed) % len(PUBLIC)
        public = f"{PUBLIC[job_index][0]}/{PUBLIC[job_index][1]}"
        other = f"{PUBLIC[(job_index + 2) % len(PUBLIC)][0]}/{PUBLIC[(job_index + 2) % len(PUBLIC)][1]}"
        wake = 6 + (i % 3) * 0.5
        personas.append({
            "name": f"镇民{i + 1:04d}",
            "age": 20 + i % 50,
            "traits": TRAITS[i % len(TRAITS)],
            "background": f"镇上的第{i + 1}位居民，靠{JOBS[job_index]}过日子。",
            "routine": [
                {"at": f"{int(wake):02d}:{int(wake % 1 * 60):02d}", "do": "起床洗漱", "place": home},
                {"at": "08:00", "do": JOBS[job_index], "place": public},
                {"at": "12:00", "do": "吃午饭", "place": home},
                {"at": "13:30", "do": JOBS[(job_index + 2) % len(JOBS)], "place": other},
                {"at": "17:00", "do": "逛街散步", "place": "街道/大街"},
                {"at": "18:30", "do": "吃晚饭", "place": home},
                {"at": "21:30", "do": "睡觉", "place": home},
            ],
            "relationships": {f"镇民{(i + 1) % agents + 1:04d}": "邻居"} if agents > 1 else {},
            "catchphrases": ["今儿天不错"],
            "home": home,
        })
    return WorldSpec.model_validate({
        "world": {"name": f"生成小镇{agents}", "start": "2026-03-01T06:00:00", "tick_seconds": 10},
        "map": {
            "legend": {
                "#": {"name": "墙", "walkable": False, "color": "#5d4037"},
                ".": {"name": "地面", "walkable": True, "color": "#d7ccc8"},
                ",": {"name": "街道", "walkable": True, "color": "#bcaaa4"},
            },
            "rows": "\n".join("".join(r) for r in grid),
        },
        "areas": areas,
        "personas": personas,
    })
