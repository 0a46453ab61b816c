"""Levels of care and age groups (ASAM / LOCUS-style codes from DESIGN.md)."""

from __future__ import annotations

from enum import StrEnum


class LevelOfCare(StrEnum):
    """A level of care; ordered from least to most intensive by `INTENSITY`."""

    OP = "op"
    IOP = "iop"
    PHP = "php"
    RESIDENTIAL = "residential"
    INPATIENT = "inpatient"


class AgeGroup(StrEnum):
    ADULT = "adult"
    ADOLESCENT = "adolescent"


INTENSITY: dict[LevelOfCare, int] = {
    LevelOfCare.OP: 1,
    LevelOfCare.IOP: 2,
    LevelOfCare.PHP: 3,
    LevelOfCare.RESIDENTIAL: 4,
    LevelOfCare.INPATIENT: 5,
}

# Levels the program delivers itself; the others are referred out and awaited.
PROGRAM_LEVELS: frozenset[LevelOfCare] = frozenset(
    {LevelOfCare.OP, LevelOfCare.IOP, LevelOfCare.PHP}
)
EXTERNAL_LEVELS: frozenset[LevelOfCare] = frozenset(
    {LevelOfCare.RESIDENTIAL, LevelOfCare.INPATIENT}
)


def is_external(level: LevelOfCare) -> bool:
    return level in EXTERNAL_LEVELS


def step_up_from(level: LevelOfCare) -> LevelOfCare:
    """The next more intensive level (inpatient is the ceiling)."""
    order = sorted(INTENSITY, key=INTENSITY.__getitem__)
    if level == LevelOfCare.PHP:
        return LevelOfCare.INPATIENT
    index = order.index(level)
    return order[min(index + 1, len(order) - 1)]


def step_down_from(level: LevelOfCare) -> LevelOfCare | None:
    """The next less intensive program level, or None when OP (discharge is next)."""
    return {
        LevelOfCare.INPATIENT: LevelOfCare.PHP,
        LevelOfCare.RESIDENTIAL: LevelOfCare.IOP,
        LevelOfCare.PHP: LevelOfCare.IOP,
        LevelOfCare.IOP: LevelOfCare.OP,
        LevelOfCare.OP: None,
    }[level]
