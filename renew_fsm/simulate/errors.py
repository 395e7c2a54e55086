"""The one error a simulation run refuses with, shared by the store handling, the pool and the run."""

from __future__ import annotations


class SimulationError(ValueError):
    """The store holds another simulation, or a resume does not match the run it continues."""
