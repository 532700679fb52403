"""The app as an MCP server: exactly four tools (generate, distribution, sweep, expectations), each
described for an agent, and the generate tool's texts equal /generate's for the same seed. Driven with
the real ``mcp`` Python client over streamable HTTP at /gradio_api/mcp/."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from chargen.app import views
from chargen.app.generate_tab import Handlers
from chargen.app.inside_tab import InsideHandlers
from tests.helpers import free_port, mcp_call, tiny_model

pytestmark = pytest.mark.slow

TOOLS = {"generate", "distribution", "sweep", "expectations"}
"""Written out independently of chargen.app.demo.MCP_TOOLS."""


@pytest.fixture(scope="module")
def served() -> Any:
    from chargen.app.demo import build_demo, serve
    from chargen.inference.batching import ServingSettings

    models = {"tiny": tiny_model("lstm", seed=3), "tiny-gru": tiny_model("gru", seed=4)}
    batching = ServingSettings(max_active=4)
    demo = build_demo(models, batching=batching)
    serve(demo, batching, quiet=True, server_name="127.0.0.1", server_port=free_port(), _frontend=False)
    yield demo.local_url.rstrip("/")
    demo.close()


def _run(url: str, work: Any) -> Any:
    return mcp_call(url, work)


def test_the_mcp_server_offers_exactly_the_four_tools_with_their_inputs_described(served: str) -> None:
    async def work(session: Any) -> Any:
        return (await session.list_tools()).tools

    tools = {tool.name: tool for tool in _run(served, work)}
    assert set(tools) == TOOLS
    generate = tools["generate"]
    properties = generate.inputSchema["properties"]
    assert list(properties)[:3] == ["prompt", "temperature", "length"]
    assert {"top_k", "top_p", "seed", "model_name"} <= set(properties)
    assert "greedy" in generate.description and "sampled" in generate.description
    for tool in tools.values():  # every input is described for an agent
        for name, schema in tool.inputSchema["properties"].items():
            assert schema.get("description"), f"{tool.name}.{name} has no description"


def test_the_tools_docstrings_name_the_apps_real_limits() -> None:
    """The ranges an agent reads are the ones the app checks (a changed limit must change the docstring)."""
    doc = Handlers.generate.__doc__
    assert f"{views.APP_MIN_LENGTH} to {views.APP_MAX_LENGTH}" in doc
    assert f"0 to {views.APP_MAX_TEMPERATURE:g}" in doc and f"0 to {views.APP_MAX_TOP_K}" in doc
    from chargen.app import inside_views as iv

    assert f"Up to {iv.MAX_SWEEP_TEMPERATURES} temperatures" in InsideHandlers.sweep.__doc__
    assert f"2 to {iv.MAX_TEXT}" in InsideHandlers.expectations.__doc__


def test_the_generate_tool_returns_the_complete_texts_of_generate_for_the_seed(served: str) -> None:
    from gradio_client import Client

    inputs = {"prompt": "ab", "temperature": 0.9, "length": 60, "seed": "17", "model_name": "tiny"}

    async def work(session: Any) -> Any:
        return await session.call_tool("generate", inputs)

    result = _run(served, work)
    assert not result.isError, result.content
    # gradio 6.31 hands MCP a multi-output endpoint's final outputs as one text: the list's repr.
    assert len(result.content) == 1
    outputs = ast.literal_eval(result.content[0].text)
    client = Client(served, verbose=False, ssl_verify=False)
    greedy, sampled, seed, *_rest = client.predict(
        inputs["prompt"], inputs["temperature"], inputs["length"], 0, 1.0, "17", "tiny", api_name="/generate"
    )
    client.close()
    assert len(greedy) == len(sampled) == 60 and seed == "17"
    assert outputs[0] == greedy and outputs[1] == sampled  # the whole texts, not a first streamed update
    assert outputs[2] == "17" and outputs[5]["done"] is True


def test_the_distribution_tool_answers_as_the_endpoint_does(served: str) -> None:
    from gradio_client import Client

    async def work(session: Any) -> Any:
        return await session.call_tool(
            "distribution", {"prompt": "ab", "temperature": 1.0, "model_name": "tiny", "text": "", "position": -1}
        )

    result = _run(served, work)
    assert not result.isError, result.content
    answer = ast.literal_eval(result.content[0].text)  # gradio 6.31 hands MCP the output's repr
    client = Client(served, verbose=False, ssl_verify=False)
    expected = client.predict("ab", 1.0, "tiny", "", -1, 0, 1.0, "", api_name="/distribution")
    client.close()
    assert answer == expected


def test_every_endpoint_stays_documented_for_clients(served: str) -> None:
    """Only the MCP server's tools are limited: gradio_client still sees (and fills defaults for) the rest."""
    from gradio_client import Client

    client = Client(served, verbose=False, ssl_verify=False)
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    client.close()
    assert {f"/{tool}" for tool in TOOLS} | {"/samples", "/cells", "/beam", "/train"} <= named
