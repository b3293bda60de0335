"""The price index as a picture (PNG, matplotlib object API on an Agg canvas): one bar
per pool's effective price, coloured by zone, with the eastern and western medians."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from router.report.pictures import DOWN_COLOUR, DPI, ZONE_COLOURS
from router.report.prices import PriceIndex


def draw_prices(index: PriceIndex, out: str | Path) -> None:
    """The price index: one bar per pool (effective price, coloured by zone), cheapest at
    the top, with the eastern and western medians as lines."""
    pools = [p for p in index.pools if p.cny_per_pflop_hour is not None]
    fig = Figure(figsize=(9, 1.6 + 0.24 * len(pools)), dpi=DPI)
    ax = fig.add_subplot()
    ys = list(range(len(pools)))[::-1]
    prices = [p.cny_per_pflop_hour or 0.0 for p in pools]
    ax.barh(ys, prices, color=[ZONE_COLOURS.get(p.zone, DOWN_COLOUR) for p in pools])
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{p.accelerator} @ {p.site} ({p.provider})" for p in pools], fontsize=7)
    for y, price, pool in zip(ys, prices, pools, strict=True):
        ax.annotate(
            f"{price:,.1f}  ({pool.price_cny_per_hour:g} CNY/h)",
            (price, y),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=6,
        )
    overall = index.spreads[-1]
    for zone, median in (
        ("east", overall.east_cny_per_pflop_hour),
        ("west", overall.west_cny_per_pflop_hour),
    ):
        if median is not None:
            ax.axvline(
                median, color=ZONE_COLOURS[zone], ls="--", lw=1, zorder=3, label=f"{zone} median"
            )
    discount = overall.west_discount_pct
    spread = "" if discount is None else f": the west is {discount:.0f}% cheaper (medians)"
    ax.set_title(f"Effective price, CNY per {index.precision} PFLOP-hour{spread}", fontsize=10)
    ax.set_xlabel(f"CNY per effective PFLOP-hour ({index.precision})")
    ax.margins(x=0.25)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, axis="x", lw=0.3, alpha=0.6)
    fig.tight_layout()
    fig.savefig(out, bbox_inches="tight")
