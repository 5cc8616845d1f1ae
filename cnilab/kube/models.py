"""JSON documents -> the ``kubernetes`` client's models, as the client itself deserializes a response.

``kubernetes`` >= 35 (OpenAPI Generator 7) takes the response text and a content type:
``ApiClient().deserialize(text, "V1NodeList", "application/json")``; older releases took a
response object with a ``.data`` attribute (the classic ``FakeResponse`` trick). Both work here.
"""

from __future__ import annotations

import inspect
import json


class FakeResponse:
    """What older clients' ``deserialize`` reads: an object whose ``.data`` is the JSON text."""

    def __init__(self, text: str):
        self.data = text


def deserialize(text: str, model: str):
    """The client model ``model`` (e.g. ``"V1NodeList"``) of the JSON ``text``."""
    import kubernetes

    api = kubernetes.client.ApiClient()
    if "content_type" in inspect.signature(api.deserialize).parameters:
        return api.deserialize(text, model, "application/json")
    return api.deserialize(FakeResponse(text), model)


def custom_objects(text: str) -> dict:
    """A custom-object list as ``CustomObjectsApi.list_cluster_custom_object`` returns it: a dict."""
    return json.loads(text)
