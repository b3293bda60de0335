"""Write router/data/east-asia-outline.json: the country outlines the maps draw.

Run once, by hand (the package never downloads anything):

    pip download geopandas==0.14.4 --no-deps -d /tmp/ne
    cd /tmp/ne && unzip geopandas-0.14.4-py3-none-any.whl 'geopandas/datasets/naturalearth_lowres/*'
    pip install --target /tmp/pyshp pyshp
    PYTHONPATH=/tmp/pyshp python3 docs/tools/make_outline.py \
        /tmp/ne/geopandas/datasets/naturalearth_lowres/naturalearth_lowres.shp

The source is Natural Earth's 1:110m "Admin 0 - Countries" (public domain), as geopandas
0.14 shipped it. Every country whose outline reaches into the box below is kept whole,
coordinates rounded to 0.01 degrees.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import shapefile  # pyshp, only for this script

BOX = (60.0, 5.0, 150.0, 60.0)  # lon_min, lat_min, lon_max, lat_max
OUT = Path(__file__).resolve().parents[2] / "router" / "data" / "east-asia-outline.json"


def main(shp: str) -> None:
    countries = []
    for record in shapefile.Reader(shp).iterShapeRecords():
        shape = record.shape
        x0, y0, x1, y1 = shape.bbox
        if x1 < BOX[0] or x0 > BOX[2] or y1 < BOX[1] or y0 > BOX[3]:
            continue
        bounds = [*shape.parts, len(shape.points)]
        rings = [
            [[round(x, 2), round(y, 2)] for x, y in shape.points[a:b]]
            for a, b in itertools.pairwise(bounds)
        ]
        fields = record.record
        countries.append({"name": fields["name"], "iso_a3": fields["iso_a3"], "rings": rings})
    document = {
        "source": "Natural Earth 1:110m Admin 0 - Countries (naturalearthdata.com), "
        "via geopandas 0.14.4 datasets/naturalearth_lowres",
        "licence": "public domain (Natural Earth terms of use)",
        "box": list(BOX),
        "countries": sorted(countries, key=lambda c: c["name"]),
    }
    OUT.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {OUT}: {len(countries)} countries")


if __name__ == "__main__":
    main(sys.argv[1])
