"""The local mock carrier: a real HTTP server that behaves like Twilio Programmable Voice.

See docs/mock-carrier.md. Public entry points:

    MockCarrier            owns the simulator and the HTTP server (start_in_thread / serve / stop)
    create_app(carrier)    the Flask app (REST API 2010-04-01 + /_mock control API)
    Population, PopulationParams, NumberOverride, EndpointConfig, load_scenario_file
    compute_signature      X-Twilio-Signature, as Twilio computes it
"""

from dialer.telephony.mock.carrier import MockCarrier
from dialer.telephony.mock.delivery import compute_signature
from dialer.telephony.mock.population import (
    EndpointConfig,
    NumberOverride,
    Population,
    PopulationParams,
    ScenarioError,
    load_scenario_file,
)
from dialer.telephony.mock.server import create_app

__all__ = [
    "EndpointConfig",
    "MockCarrier",
    "NumberOverride",
    "Population",
    "PopulationParams",
    "ScenarioError",
    "compute_signature",
    "create_app",
    "load_scenario_file",
]
