"""A fake Canvas LMS for the demo, the ``simulate`` command and the tests.

A real aiohttp server on loopback that answers the conference endpoints the way Canvas really
does (see ``docs``/``canvas-api-facts.md``): the ``live`` scope, bookmark and numbered pages,
Canvas's error shapes, its leaky-bucket throttle, and injectable faults; and, for watching a
whole institution, its account tree, courses, groups and account admins' rights. ``World`` is
the pure in-memory model; ``Simulator`` serves it; ``/_sim/`` is an admin API for other
processes.
"""

from monitor.simulator.builder import InstitutionPlan, InstitutionSummary
from monitor.simulator.errors import SimAuthError, SimInputError, SimNotFoundError, SimulatorError
from monitor.simulator.faults import FaultInjector, FaultKind, FaultRule, Shape
from monitor.simulator.institution_script import InstitutionDirector, run_institution_script
from monitor.simulator.records import (
    ContextType,
    CourseState,
    Participant,
    ParticipationType,
    SimAccount,
    SimConference,
    SimContext,
    SimCourse,
    SimGroup,
    SimRecording,
)
from monitor.simulator.runtime import RequestLog, RequestRecord, SimOptions
from monitor.simulator.script import run_demo_script
from monitor.simulator.server import Simulator, create_app
from monitor.simulator.throttle import Throttle, ThrottleMode
from monitor.simulator.world import World

__all__ = [
    "ContextType",
    "CourseState",
    "FaultInjector",
    "FaultKind",
    "FaultRule",
    "InstitutionDirector",
    "InstitutionPlan",
    "InstitutionSummary",
    "Participant",
    "ParticipationType",
    "RequestLog",
    "RequestRecord",
    "Shape",
    "SimAccount",
    "SimAuthError",
    "SimConference",
    "SimContext",
    "SimCourse",
    "SimGroup",
    "SimInputError",
    "SimNotFoundError",
    "SimOptions",
    "SimRecording",
    "Simulator",
    "SimulatorError",
    "Throttle",
    "ThrottleMode",
    "World",
    "create_app",
    "run_demo_script",
    "run_institution_script",
]
