"""Generated towns of any size for benchmarks and tests: blocks of homes and public halls on a lattice of streets."""

from __future__ import annotations

import math

from luotuo_rpg.world.spec import WorldSpec

PUBLIC = (("集市", "摊位"), ("茶馆", "茶堂"), ("客栈", "大堂"), ("医馆", "诊室"), ("学堂", "私塾"), ("铁匠铺", "铺面"))
TRAITS = (["勤快", "爱聊天"], ["稳重", "寡言"], ["热心", "嘴碎"], ["机灵", "贪玩"])
JOBS = ("卖菜", "喝茶听书", "招呼客人", "看病抓药", "读书", "打铁")
# A hall is a 5×3 room (15 tiles). Ten people fill it and leave room to walk in and out; a town gets as
# many halls of each kind as its people need at the busiest hour, when everyone is at one public place.
HALL_PEOPLE = 10


def hall_name(kind: int, copy: int) -> str:
    """The area name of a kind's copy: 医馆, 医馆2, 医馆3 …"""
    return PUBLIC[kind][0] + (str(copy + 1) if copy else "")


def street_name(row: int) -> str:
    return "大街" + (str(row + 1) if row else "")


def generate_town(agents: int, seed: int = 0) -> WorldSpec:
    """A town where every 4 agents share a 6×4 home and each kind of public place has as many halls as its
    visitors need; homes and halls sit on a lattice of streets, so paths are long enough to matter."""
    homes = math.ceil(agents / 4)
    copies = max(1, math.ceil(agents / len(PUBLIC) / HALL_PEOPLE))
    halls = [(kind, copy) for copy in range(copies) for kind in range(len(PUBLIC))]
    cells = homes + len(halls)
    cols = math.ceil(math.sqrt(cells))
    rows_n = math.ceil(cells / cols)
    cw, ch = 8, 6  # cell: 6×4 room + wall ring + street
    width, height = cols * cw + 1, rows_n * ch + 1
    grid = [[","] * width for _ in range(height)]
    areas = []
    places = []
    door_street = []  # per home: the street its door opens onto
    # Halls are spread over the town, one every few cells, instead of filling its first row.
    stride = cells / len(halls)
    hall_cells = {int(i * stride + stride / 2): hall for i, hall in enumerate(halls)}
    for index in range(cells):
        cx, cy = (index % cols) * cw + 1, (index // cols) * ch + 1
        for y in range(cy, cy + 5):
            for x in range(cx, cx + 7):
                wall = y in (cy, cy + 4) or x in (cx, cx + 6)
                grid[y][x] = "#" if wall else "."
        grid[cy + 4][cx + 3] = "."  # door on the south wall, onto the street
        rect = [cx + 1, cy + 1, 5, 3]
        if index in hall_cells:
            # A hall opens wide onto the streets on both sides, as a shop front does: a crowd gets in and out.
            for x in range(cx + 2, cx + 5):
                grid[cy][x] = grid[cy + 4][x] = "."
            kind, copy = hall_cells[index]
            room = {"name": PUBLIC[kind][1], "rect": rect}
            areas.append({"name": hall_name(kind, copy), "color": "#90a4ae", "rooms": [room]})
        else:
            name = f"民宅{len(places) + 1}"
            areas.append({"name": name, "color": "#bcaaa4", "public": False, "rooms": [{"name": "屋里", "rect": rect}]})
            places.append(f"{name}/屋里")
            door_street.append(f"街道/{street_name(index // cols + 1)}")
    # Every east-west street is a room to stroll in: the whole town walks out in the evening, each
    # along the street before its own door.
    streets = [{"name": street_name(row), "rect": [0, row * ch, width, 1]} for row in range(rows_n + 1)]
    areas.append({"name": "街道", "color": "#d7ccc8", "rooms": streets})
    personas = []
    for i in range(agents):
        home = places[i // 4]
        job_index = (i + seed) % len(PUBLIC)
        other_index = (job_index + 2) % len(PUBLIC)
        # Neighbours in one job go to different copies of its hall, morning and afternoon alike.
        copy = (i // len(PUBLIC)) % copies
        public = f"{hall_name(job_index, copy)}/{PUBLIC[job_index][1]}"
        other = f"{hall_name(other_index, copy)}/{PUBLIC[other_index][1]}"
        wake = 6 + (i % 3) * 0.5
        personas.append(
            {
                "name": f"镇民{i + 1:04d}",
                "age": 20 + i % 50,
                "traits": TRAITS[i % len(TRAITS)],
                "background": f"镇上的第{i + 1}位居民，靠{JOBS[job_index]}过日子。",
                "routine": [
                    {"at": f"{int(wake):02d}:{int(wake % 1 * 60):02d}", "do": "起床洗漱", "place": home},
                    {"at": "08:00", "do": JOBS[job_index], "place": public},
                    {"at": "12:00", "do": "吃午饭", "place": home},
                    {"at": "13:30", "do": JOBS[other_index], "place": other},
                    {"at": "17:00", "do": "逛街散步", "place": door_street[i // 4]},
                    {"at": "18:30", "do": "吃晚饭", "place": home},
                    {"at": "21:30", "do": "睡觉", "place": home},
                ],
                "relationships": {f"镇民{(i + 1) % agents + 1:04d}": "邻居"} if agents > 1 else {},
                "catchphrases": ["今儿天不错"],
                "home": home,
            }
        )
    return WorldSpec.model_validate(
        {
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
        }
    )
