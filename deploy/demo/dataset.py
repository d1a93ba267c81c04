"""The demo dataset, built deterministically from the news piece the project
was born from (../shared/seed/): its museums and figures, relics across
dynasties, categories and protection grades (一级 / 二级 / 三级 / 一般, some
donated), licensees, licenses with varied terms and products.

Pure data: `seed.py` loads it through the public APIs.

`COLLECTION_SHEET` is a collection ledger as a Chongqing museum exports it
(GB18030, Chinese headers, CRLF line ends, docs/import.md): grades in `级别`,
donors in their own `捐赠人` column beside `来源`. Two of its rows are wrong
on purpose, to show the import report: row 8 has the grade `特级` (no such
grade) and row 9 no Chinese title (only an English one). Importing it
(`catalog import relics deploy/demo/three-gorges-collection.csv ...`)
creates 8 relics with 3 donors and reports those 2 rows;
tests/catalog/test_import_ledger.py does exactly that.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["COLLECTION_SHEET", "DATASET", "Dataset", "build"]

COLLECTION_SHEET = Path(__file__).with_name("three-gorges-collection.csv")


@dataclass(frozen=True)
class MuseumSpec:
    key: str
    name_zh: str
    name_en: str
    city: str
    province: str
    kind: str = "museum"
    heritage_level: str | None = "national_first_class"


@dataclass(frozen=True)
class RelicSpec:
    key: str
    museum: str
    name_zh: str
    name_en: str
    period: str
    category: str
    grade: str
    donor: tuple[str, str] | None = None  # (donor_id, name): co-owned 70/30
    has_twin: bool = False


@dataclass(frozen=True)
class LicenseSpec:
    key: str
    licensee: str
    museum: str
    relics: tuple[str, ...]
    categories: tuple[str, ...]
    rate_bps: int
    exclusivity: str = "non_exclusive"
    per_unit_minimum_fen: int = 0
    # (cumulative units from which the rate applies, rate_bps); below the first
    # threshold the base rate applies (ip wants positive, increasing thresholds)
    tiers: tuple[tuple[int, int], ...] = ()
    advance_fen: int = 0
    minimum_guarantee_fen: int = 0
    # (approval number, date) of the state heritage administration: reproducing
    # a grade-1 relic needs it (issue 19), so every license on one carries it
    approval: tuple[str, str] | None = None


@dataclass(frozen=True)
class ProductSpec:
    sku: str
    license: str
    relic: str
    title_zh: str
    title_en: str
    category: str
    price_fen: int
    stock: int


@dataclass
class Dataset:
    museums: list[MuseumSpec] = field(default_factory=list)
    relics: list[RelicSpec] = field(default_factory=list)
    licensees: dict[str, str] = field(default_factory=dict)  # id -> name
    licenses: list[LicenseSpec] = field(default_factory=list)
    products: list[ProductSpec] = field(default_factory=list)


MUSEUMS = [
    MuseumSpec(
        "three-gorges",
        "重庆中国三峡博物馆",
        "Chongqing China Three Gorges Museum",
        "Chongqing",
        "CN-CQ",
    ),
    MuseumSpec("palace", "故宫博物院", "The Palace Museum", "Beijing", "CN-BJ"),
    MuseumSpec("shanghai", "上海博物馆", "Shanghai Museum", "Shanghai", "CN-SH"),
    MuseumSpec("sanxingdui", "三星堆博物馆", "Sanxingdui Museum", "Guanghan", "CN-SC"),
    MuseumSpec(
        "dazu",
        "大足石刻研究院",
        "Dazu Rock Carvings Academy",
        "Chongqing",
        "CN-CQ",
        kind="heritage_site",
    ),
    MuseumSpec(
        "fuling",
        "涪陵博物馆",
        "Fuling Museum",
        "Chongqing",
        "CN-CQ",
        heritage_level="national_third_class",
    ),
    MuseumSpec(
        "wanzhou",
        "万州博物馆",
        "Wanzhou Museum",
        "Chongqing",
        "CN-CQ",
        heritage_level="national_second_class",
    ),
    MuseumSpec(
        "yubei",
        "渝北区文物管理所",
        "Yubei District Heritage Office",
        "Chongqing",
        "CN-CQ",
        kind="archaeological_institute",
        heritage_level=None,
    ),
]

# (category, period zh/en, name stems zh/en, museums that hold such pieces)
RELIC_FAMILIES = [
    (
        "bronze",
        "商",
        "Shang",
        [
            ("青铜面具", "bronze mask"),
            ("青铜神树", "bronze sacred tree"),
            ("青铜立人像", "bronze standing figure"),
        ],
        ["sanxingdui"],
    ),
    (
        "bronze",
        "战国",
        "Warring States",
        [
            ("巴蜀青铜剑", "Ba-Shu bronze sword"),
            ("虎钮錞于", "tiger-knob bronze drum"),
            ("青铜编钟", "bronze chime bell"),
        ],
        ["three-gorges", "fuling", "wanzhou"],
    ),
    (
        "pottery",
        "汉",
        "Han",
        [
            ("陶说唱俑", "pottery storyteller figurine"),
            ("陶抚琴俑", "pottery zither-player figurine"),
            ("陶楼", "pottery watchtower"),
        ],
        ["three-gorges", "wanzhou"],
    ),
    (
        "ceramics",
        "宋",
        "Song",
        [
            ("青白瓷碗", "qingbai porcelain bowl"),
            ("龙泉窑青瓷瓶", "Longquan celadon vase"),
            ("汝窑天青釉洗", "Ru ware brush washer"),
        ],
        ["palace", "shanghai", "three-gorges"],
    ),
    (
        "calligraphy_painting",
        "明",
        "Ming",
        [("山水图轴", "landscape hanging scroll"), ("行书诗卷", "running-script poem scroll")],
        ["palace", "shanghai"],
    ),
    (
        "calligraphy_painting",
        "清",
        "Qing",
        [("花鸟册页", "bird-and-flower album leaf"), ("楷书对联", "regular-script couplet")],
        ["palace", "three-gorges"],
    ),
    (
        "jade",
        "清",
        "Qing",
        [("白玉如意", "white jade ruyi sceptre"), ("青玉山子", "green jade mountain carving")],
        ["palace"],
    ),
    (
        "stone_carving",
        "宋",
        "Song",
        [
            ("千手观音造像", "thousand-armed Guanyin carving"),
            ("牧牛图石刻", "ox-herding rock carving"),
        ],
        ["dazu"],
    ),
    ("lacquer", "明", "Ming", [("剔红漆盒", "carved red lacquer box")], ["shanghai", "palace"]),
    ("textile", "清", "Qing", [("缂丝龙袍", "kesi silk dragon robe")], ["palace"]),
]

PRODUCT_KINDS = [
    # (category, zh, en, base price fen)
    ("stationery", "书签", "bookmark", 3_900),
    ("stationery", "笔记本", "notebook", 6_800),
    ("home", "冰箱贴", "fridge magnet", 2_900),
    ("home", "茶杯", "tea cup", 12_800),
    ("apparel", "丝巾", "silk scarf", 29_900),
    ("toys", "积木", "building blocks", 19_900),
    ("jewellery", "书签耳环", "earrings", 15_800),
    ("food", "文创雪糕", "heritage ice cream", 1_800),
]

LICENSEES = {
    "lic-bashu-design": "巴蜀文创设计有限公司 Ba-Shu Creative Design Co.",
    "lic-forbidden-crafts": "紫禁匠作 Forbidden City Crafts Ltd.",
    "lic-haipai": "海派文化 Haipai Culture Co.",
    "lic-mask-lab": "面具实验室 Mask Lab Studio",
    "lic-yangtze-goods": "长江好物 Yangtze Goods",
}


def build(relic_count: int = 200, product_count: int = 500) -> Dataset:
    rng = random.Random(20250125)  # the Two Sessions news piece's month
    data = Dataset(museums=list(MUSEUMS), licensees=dict(LICENSEES))
    for n in range(relic_count):
        category, period_zh, period_en, stems, museums = RELIC_FAMILIES[n % len(RELIC_FAMILIES)]
        stem_zh, stem_en = stems[(n // len(RELIC_FAMILIES)) % len(stems)]
        museum = museums[n % len(museums)]
        number = n // len(RELIC_FAMILIES) + 1
        donor = None
        if n % 9 == 4:  # some donated with co-ownership: museum 70 %, donor 30 %
            donor = (f"donor-{n:03d}", f"捐赠人{n:03d} Donor {n:03d}")
        data.relics.append(
            RelicSpec(
                key=f"relic-{n:03d}",
                museum=museum,
                name_zh=f"{period_zh}{stem_zh}（{number}号）",
                name_en=f"{period_en} {stem_en} No. {number}",
                period=f"{period_zh} {period_en}",
                category=category,
                grade=rng.choice(["grade_1", "grade_2", "grade_3", "general"]),
                donor=donor,
                has_twin=n % 4 == 0,
            )
        )
    # licenses: each licensee works with a museum's relics, varied terms
    by_museum: dict[str, list[RelicSpec]] = {}
    for relic in data.relics:
        by_museum.setdefault(relic.museum, []).append(relic)
    plans = [
        ("lic-bashu-design", "three-gorges", {"rate_bps": 1000, "advance_fen": 500_000}),
        (
            "lic-yangtze-goods",
            "three-gorges",
            {"rate_bps": 800, "tiers": ((200, 1000), (1000, 1200))},
        ),
        ("lic-forbidden-crafts", "palace", {"rate_bps": 1200, "minimum_guarantee_fen": 2_000_000}),
        ("lic-haipai", "shanghai", {"rate_bps": 900, "per_unit_minimum_fen": 300}),
        (
            "lic-mask-lab",
            "sanxingdui",
            {"rate_bps": 1100, "exclusivity": "exclusive", "minimum_guarantee_fen": 1_000_000},
        ),
        ("lic-bashu-design", "dazu", {"rate_bps": 1000}),
        ("lic-yangtze-goods", "wanzhou", {"rate_bps": 850, "per_unit_minimum_fen": 200}),
        ("lic-yangtze-goods", "fuling", {"rate_bps": 950}),
    ]
    for i, (licensee, museum, terms) in enumerate(plans):
        relics = tuple(r.key for r in by_museum.get(museum, [])[:12])
        if not relics:
            continue
        categories = (
            ("toys", "apparel")
            if terms.get("exclusivity") == "exclusive"
            else tuple(
                sorted({k[0] for k in PRODUCT_KINDS} - {"toys", "apparel"})
                if museum == "three-gorges" and licensee == "lic-yangtze-goods"
                else sorted({k[0] for k in PRODUCT_KINDS})
            )
        )
        first_grade = any(r.grade == "grade_1" for r in by_museum[museum][:12])
        data.licenses.append(
            LicenseSpec(
                key=f"license-{i}",
                licensee=licensee,
                museum=museum,
                relics=relics,
                categories=categories,
                approval=(f"文物博函〔2025〕{101 + i}号", "2025-01-10") if first_grade else None,
                **terms,
            )  # type: ignore[arg-type]
        )
    for n in range(product_count):
        license_spec = data.licenses[n % len(data.licenses)]
        kinds = [k for k in PRODUCT_KINDS if k[0] in license_spec.categories]
        category, kind_zh, kind_en, base = kinds[(n // len(data.licenses)) % len(kinds)]
        relic_key = license_spec.relics[n % len(license_spec.relics)]
        relic = next(r for r in data.relics if r.key == relic_key)
        data.products.append(
            ProductSpec(
                sku=f"RR-{n:04d}",
                license=license_spec.key,
                relic=relic_key,
                title_zh=f"{relic.name_zh.split('（')[0]}{kind_zh}",
                title_en=f"{relic.name_en.split(' No.')[0]} {kind_en}",
                category=category,
                price_fen=base + 100 * rng.randint(0, 20),
                stock=rng.choice([0, 5, 20, 50, 100, 200]),
            )
        )
    return data


DATASET = build()
