#!/usr/bin/env python3
"""Generate server/data/sample-grid.geojson, the sample grid layer.

The district is FICTIONAL: "Qingshan New District (青山新区, fictional)",
centred near lon 111.70, lat 40.84, with region code 990102 (99 is not a
GB/T 2260 province, so the codes can never be mistaken for real ones).

Layout: a 10 x 10 lattice of ~300 m cells. Interior lattice vertices are
nudged by up to 6 % of a cell so edges are slightly irregular; neighbours
share the very same vertex coordinates, so the grid stays gap-free and
non-overlapping. The outer boundary is straight, which keeps "a point 30 m
outside the edge" easy to state.

Codes (15 digits, strings): 990102 + street + community + sequence.
  street:    4 quadrants, 001 NW, 002 NE, 003 SW, 004 SE (5 x 5 cells each)
  community: within a quadrant, rows 0-1 -> 001, rows 2-3 -> 002, row 4 -> 003
  sequence:  west->east, north->south within the community

Special cells, for the assignment rules:
  * a cell with a hole (a lake), and a lake cell exactly filling the hole;
  * a MultiPolygon cell made of two squares with another cell between them;
  * a small market-square cell overlapping part of a larger cell.

Deterministic: standard library only, fixed seed, coordinates rounded to
1e-7 degrees (~1 cm). Run from anywhere:
    python3 tools/make_sample_grid.py
"""

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "server" / "data" / "sample-grid.geojson"

LAYER_NAME = "Qingshan New District (fictional) v1"
DISTRICT = "青山新区"
REGION = "990102"

COLS = ROWS = 10
WEST, NORTH = 111.682, 40.8535
DLON, DLAT = 0.0036, 0.0027  # ~303 m x 300 m at 40.84 N
JITTER = 0.06  # fraction of a cell, interior vertices only
SEED = 20240517

# Squares (row from the north, column from the west) with special roles.
HOLED = (2, 2)            # street 001, community 002, holds the lake
MARKET_IN = (6, 7)        # street 004, community 001, holds the market square
MULTI = ((9, 0), (9, 2))  # street 003, community 003, one cell in two parts
RAIL_YARD = (9, 1)        # the cell between the two parts


def r7(v):
    return round(v, 7)


def lattice():
    """Vertex (i, j): row line i from the north, column line j from the west."""
    rng = random.Random(SEED)
    verts = {}
    for i in range(ROWS + 1):
        for j in range(COLS + 1):
            lon, lat = WEST + j * DLON, NORTH - i * DLAT
            if 0 < i < ROWS and 0 < j < COLS:
                lon += rng.uniform(-JITTER, JITTER) * DLON
                lat += rng.uniform(-JITTER, JITTER) * DLAT
            verts[i, j] = [r7(lon), r7(lat)]
    return verts


def square_ring(verts, r, c):
    """Counter-clockwise (RFC 7946 exterior) ring of square (r, c)."""
    sw, se = verts[r + 1, c], verts[r + 1, c + 1]
    ne, nw = verts[r, c + 1], verts[r, c]
    return [sw, se, ne, nw, sw]


def centre(r, c):
    """Centre of square (r, c) on the undistorted lattice."""
    return WEST + (c + 0.5) * DLON, NORTH - (r + 0.5) * DLAT


def lake_ring():
    """Irregular octagon around the centre of the holed square, CCW."""
    cx, cy = centre(*HOLED)
    # (east, north) offsets in fractions of a cell; radius 0.22-0.30 cell.
    shape = [(0.30, 0.0), (0.19, 0.17), (0.0, 0.26), (-0.17, 0.19),
             (-0.27, 0.0), (-0.18, -0.16), (0.0, -0.22), (0.2, -0.18)]
    ring = [[r7(cx + dx * DLON), r7(cy + dy * DLAT)] for dx, dy in shape]
    return ring + [ring[0]]


def market_ring():
    """~100 m x 100 m square inside MARKET_IN, CCW."""
    cx, cy = centre(*MARKET_IN)
    hx, hy = 0.0006, 0.00045
    ring = [[r7(cx - hx), r7(cy - hy)], [r7(cx + hx), r7(cy - hy)],
            [r7(cx + hx), r7(cy + hy)], [r7(cx - hx), r7(cy + hy)]]
    return ring + [ring[0]]


def street_of(r, c):
    return 1 + (1 if c >= COLS // 2 else 0) + (2 if r >= ROWS // 2 else 0)


def community_of(r):
    return {0: 1, 1: 1, 2: 2, 3: 2, 4: 3}[r % (ROWS // 2)]


def build():
    verts = lattice()
    # Units of the grid before numbering: (key square, kind, geometry).
    units = []
    for r in range(ROWS):
        for c in range(COLS):
            if (r, c) == MULTI[1]:
                continue  # part of the MultiPolygon keyed on MULTI[0]
            if (r, c) == MULTI[0]:
                geom = {"type": "MultiPolygon",
                        "coordinates": [[square_ring(verts, *sq)] for sq in MULTI]}
                units.append(((r, c), "multipart", geom))
                continue
            rings = [square_ring(verts, r, c)]
            kind = "ordinary"
            if (r, c) == HOLED:
                rings.append(list(reversed(lake_ring())))  # holes are clockwise
                kind = "holed"
            elif (r, c) == RAIL_YARD:
                kind = "rail-yard"
            elif (r, c) == MARKET_IN:
                kind = "holds-market"
            units.append(((r, c), kind, {"type": "Polygon", "coordinates": rings}))

    # Number ordinary units west->east, north->south within each community.
    features, seq = [], {}
    for (r, c), kind, geom in sorted(units, key=lambda u: u[0]):
        key = (street_of(r, c), community_of(r))
        seq[key] = seq.get(key, 0) + 1
        features.append(feature(key, seq[key], kind, geom))
    # Extra cells get the next sequence numbers of their community.
    for sq, kind, ring in ((HOLED, "lake", lake_ring()), (MARKET_IN, "market", market_ring())):
        key = (street_of(*sq), community_of(sq[0]))
        seq[key] += 1
        features.append(feature(key, seq[key], kind, {"type": "Polygon", "coordinates": [ring]}))
    return features


NOTES = {
    "holed": "Jingyue Lake Park, around the lake (polygon with a hole)",
    "lake": "Jingyue Lake 镜月湖 (fills the hole of its park cell)",
    "multipart": "two parts either side of the rail yard (MultiPolygon)",
    "rail-yard": "rail yard between the two parts of a MultiPolygon cell",
    "market": "Qingshan Market Square 青山市场 (overlaps a larger cell; smallest wins)",
    "holds-market": "block holding the market square",
}


def feature(key, n, kind, geometry):
    street, community = key
    code = f"{REGION}{street:03d}{community:03d}{n:03d}"
    name = f"{DISTRICT} Street {street} Community {community} cell {n}"
    if kind in NOTES:
        name += f" - {NOTES[kind]}"
    return {
        "type": "Feature",
        "properties": {
            "code": code,
            "name": name,
            "street": f"{street:03d}",
            "community": f"{community:03d}",
            "kind": kind,
        },
        "geometry": geometry,
    }


def write(features):
    dump = lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    lines = ",\n".join(dump(f) for f in features)
    text = ('{"type":"FeatureCollection","name":' + dump(LAYER_NAME)
            + ',"features":[\n' + lines + "\n]}\n")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")


def main():
    features = build()
    codes = [f["properties"]["code"] for f in features]
    assert len(set(codes)) == len(codes), "duplicate codes"
    assert all(len(c) == 15 and c.isdigit() for c in codes)
    write(features)
    by_kind = {f["properties"]["kind"]: f["properties"]["code"] for f in features}
    print(f"wrote {len(features)} cells to {OUT}")
    print(f"bbox lon {WEST}..{r7(WEST + COLS * DLON)}, lat {r7(NORTH - ROWS * DLAT)}..{NORTH}")
    for kind in ("holed", "lake", "multipart", "rail-yard", "holds-market", "market"):
        print(f"  {kind:13} {by_kind[kind]}")


if __name__ == "__main__":
    main()
