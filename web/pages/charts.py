"""Weekly activity as stacked bar charts, laid out here and drawn as inline SVG by a template.

Server-side SVG needs no chart library, no script and no second request, and
it scales crisply on a phone. The geometry is plain numbers, so it is tested
without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_store.activity import PersonActivity

WIDTH = 320
HEIGHT = 140
PLOT_TOP = 10
PLOT_BOTTOM = 112
PLOT_LEFT = 28
PLOT_RIGHT = 312
SERIES = (
    ("emails_in", "Emails in", "#2f6fb3"),
    ("emails_out", "Emails out", "#3e9c5a"),
    ("meetings", "Meetings", "#d9822b"),
)


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class WeekLabel:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    email: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    weeks: tuple[WeekLabel, ...]
    total: int
    description: str


def _nice_max(value: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if value <= step * 4:
            return step * 4
    return ((value + 999) // 1000) * 1000


def activity_chart(person: PersonActivity, *, scale_max: int | None = None) -> Chart:
    """One person's weeks as stacked bars; ``scale_max`` shares one y-scale across a team."""
    peak = max((w.emails_in + w.emails_out + w.meetings for w in person.weeks), default=0)
    top = _nice_max(max(scale_max or 0, peak, 1))
    plot_height = PLOT_BOTTOM - PLOT_TOP
    slot = (PLOT_RIGHT - PLOT_LEFT) / max(len(person.weeks), 1)
    bar_width = slot * 0.7
    bars: list[Bar] = []
    labels: list[WeekLabel] = []
    for index, week in enumerate(person.weeks):
        x = PLOT_LEFT + index * slot + (slot - bar_width) / 2
        base = float(PLOT_BOTTOM)
        for field, label, color in SERIES:
            count = int(getattr(week, field))
            if count == 0:
                continue
            height = plot_height * count / top
            base -= height
            bars.append(
                Bar(
                    round(x, 2),
                    round(base, 2),
                    round(bar_width, 2),
                    round(height, 2),
                    color,
                    f"week of {week.week_start:%d %b}: {count} {label.lower()}",
                )
            )
        if index % 2 == 0 or len(person.weeks) <= 6:
            labels.append(WeekLabel(round(x + bar_width / 2, 2), f"{week.week_start:%d %b}"))
    ticks = tuple(
        Tick(round(PLOT_BOTTOM - plot_height * n / 4, 2), str(top * n // 4)) for n in range(5)
    )
    sums = {field: sum(int(getattr(w, field)) for w in person.weeks) for field, _, _ in SERIES}
    description = (
        f"{person.name}: {sums['emails_in']} emails in, {sums['emails_out']} emails out, "
        f"{sums['meetings']} meetings over {len(person.weeks)} weeks"
    )
    return Chart(
        person.name,
        person.email,
        WIDTH,
        HEIGHT,
        tuple(bars),
        ticks,
        tuple(labels),
        person.total,
        description,
    )


def team_charts(people: list[PersonActivity]) -> list[Chart]:
    """One chart per person on a shared scale, so bars compare across the team."""
    peak = max(
        (w.emails_in + w.emails_out + w.meetings for p in people for w in p.weeks), default=0
    )
    return [activity_chart(person, scale_max=peak) for person in people]
